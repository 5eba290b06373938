import { checkEntraToken } from './auth';
import {
  jsonBodyOrUndefined,
  type RequestContext,
  type Route,
  seconds,
  send,
  stringRecord,
} from './httpUtil';
import {
  challengeHeader,
  deletedBundle,
  kvError,
  notFound,
  rbacDenied,
  secretBundle,
  secretItem,
} from './keyVaultShapes';
import type { SecretProperties } from './secretStore';
import type { EmulatorState } from './state';

const ACTION = 'Microsoft.KeyVault/vaults/secrets';
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const API_VERSION = /^(7\.\d+(-preview(\.\d+)?)?|20\d\d-\d\d-\d\d(-preview)?)$/;

type Handler = (state: EmulatorState, ctx: RequestContext, name: string, version: string) => void;

/** Maps a Key Vault path to its operation, data action and handler; undefined when no route matches. */
export function keyVaultRoute(state: EmulatorState, ctx: RequestContext): Route | undefined {
  const [root, name = '', third] = ctx.segments;
  const m = ctx.method;
  let op: [string, string, Handler, string] | undefined;
  if (root === 'secrets' && ctx.segments.length === 1 && m === 'GET')
    op = ['list', 'readMetadata/action', listSecrets, ''];
  else if (root === 'secrets' && ctx.segments.length === 2) {
    if (m === 'PUT' && !ctx.trailingSlash) op = ['set', 'setSecret/action', setSecret, ''];
    else if (m === 'GET') op = ['get', 'getSecret/action', getSecret, ''];
    else if (m === 'PATCH') op = ['update', 'update/action', updateSecret, ''];
    else if (m === 'DELETE') op = ['delete', 'delete', deleteSecret, ''];
  } else if (root === 'secrets' && ctx.segments.length === 3 && third !== undefined) {
    if (third === 'versions' && m === 'GET') op = ['listVersions', 'readMetadata/action', listVersions, ''];
    else if (m === 'GET') op = ['get', 'getSecret/action', getSecret, third];
    else if (m === 'PATCH') op = ['update', 'update/action', updateSecret, third];
  } else if (root === 'deletedsecrets' && ctx.segments.length === 2) {
    if (m === 'GET') op = ['getDeleted', 'readMetadata/action', getDeleted, ''];
    else if (m === 'DELETE') op = ['purge', 'purge/action', purge, ''];
  }
  if (!op) return undefined;
  const [operation, action, handler, version] = op;
  return {
    operation: `keyVault.${operation}`,
    run: (c) => authorize(state, c, `${ACTION}/${action}`, name, () => handler(state, c, name, version)),
  };
}

function authorize(
  state: EmulatorState,
  ctx: RequestContext,
  action: string,
  name: string,
  next: () => void,
): void {
  const check = checkEntraToken(state, ctx, ['https://vault.azure.net']);
  const challenge = { headers: { 'www-authenticate': challengeHeader(state) } };
  if (!check.ok) {
    state.count('keyVault.unauthorized');
    const message =
      check.problem === 'missing'
        ? 'AKV10000: Request is missing a Bearer or PoP token.'
        : check.problem === 'audience'
          ? `AKV10022: Invalid audience. Expected https://vault.azure.net, found: ${check.audience ?? ''}.`
          : check.problem === 'expired'
            ? 'AKV10021: Token is expired.'
            : check.problem === 'issuer'
              ? 'AKV10032: Invalid issuer.'
              : 'AKV10016: Token validation failed.';
    kvError(ctx, 401, 'Unauthorized', message, challenge);
    return;
  }
  const apiVersion = ctx.query.get('api-version');
  if (!apiVersion || !API_VERSION.test(apiVersion)) {
    kvError(
      ctx,
      400,
      'BadParameter',
      `The specified version (${apiVersion ?? ''}) is not recognized. Consider using the latest supported version (2025-07-01).`,
    );
    return;
  }
  if (name !== '' && !NAME.test(name)) {
    kvError(ctx, 400, 'BadParameter', `The request URI contains an invalid name: ${name}`);
    return;
  }
  if (!state.roles.allows(check.oid, action, 'keyvault')) {
    state.count('keyVault.forbidden');
    rbacDenied(ctx, check, action, name);
    return;
  }
  next();
}

/** Reads `contentType`, `tags` and `attributes` of a PUT/PATCH body; a string is an error message. */
function properties(body: Record<string, unknown>): SecretProperties | string {
  const props: SecretProperties = {};
  if (body.contentType !== undefined) {
    if (typeof body.contentType !== 'string') return 'contentType must be a string';
    props.contentType = body.contentType;
  }
  if (body.tags !== undefined) {
    const tags = stringRecord(body.tags);
    if (!tags || Object.keys(tags).length > 15) return 'tags must be at most 15 string values';
    props.tags = tags;
  }
  const attrs = body.attributes;
  if (attrs !== undefined) {
    if (typeof attrs !== 'object' || attrs === null) return 'attributes must be an object';
    const a = attrs as Record<string, unknown>;
    if (a.enabled !== undefined && typeof a.enabled !== 'boolean')
      return 'attributes.enabled must be a boolean';
    if (typeof a.enabled === 'boolean') props.enabled = a.enabled;
    for (const key of ['nbf', 'exp'] as const) {
      if (a[key] === undefined || a[key] === null) continue;
      if (typeof a[key] !== 'number') return `attributes.${key} must be a number`;
      props[key] = a[key];
    }
  }
  return props;
}

/** The body as a JSON object, or undefined once it has answered Key Vault's 400 for any other body. */
function parseBody(ctx: RequestContext): Record<string, unknown> | undefined {
  const body = jsonBodyOrUndefined(ctx);
  if (!body) kvError(ctx, 400, 'BadParameter', 'The request body is not a valid JSON object.');
  return body;
}

function setSecret(state: EmulatorState, ctx: RequestContext, name: string): void {
  const body = parseBody(ctx);
  if (!body) return;
  if (typeof body.value !== 'string')
    return kvError(ctx, 400, 'BadParameter', 'Property value is required and must be a string.');
  if (body.value.length > 25 * 1024) return kvError(ctx, 400, 'BadParameter', 'Secret value is too large.');
  const props = properties(body);
  if (typeof props === 'string') return kvError(ctx, 400, 'BadParameter', props);
  // Soft delete is always on in Azure: a deleted name stays taken until it is recovered or purged.
  const deleted = state.secrets.getDeleted(name);
  if (deleted)
    return kvError(
      ctx,
      409,
      'Conflict',
      `Secret ${deleted.name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
      { inner: 'ObjectIsDeletedButRecoverable' },
    );
  const version = state.secrets.set(name, body.value, props, seconds(ctx.now));
  send(ctx, 200, secretBundle(state, state.secrets.displayName(name), version, true));
}

function getSecret(state: EmulatorState, ctx: RequestContext, name: string, version: string): void {
  const found = state.secrets.get(name, version);
  if (!found) return notFound(ctx, version ? `${name}/${version}` : name);
  if (!found.enabled)
    return kvError(ctx, 403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', {
      inner: 'SecretDisabled',
    });
  send(ctx, 200, secretBundle(state, state.secrets.displayName(name), found, true));
}

function updateSecret(state: EmulatorState, ctx: RequestContext, name: string, version: string): void {
  const body = parseBody(ctx);
  if (!body) return;
  const props = properties(body);
  if (typeof props === 'string') return kvError(ctx, 400, 'BadParameter', props);
  const updated = state.secrets.update(name, version, props, seconds(ctx.now));
  if (!updated) return notFound(ctx, version ? `${name}/${version}` : name);
  send(ctx, 200, secretBundle(state, state.secrets.displayName(name), updated, false));
}

function deleteSecret(state: EmulatorState, ctx: RequestContext, name: string): void {
  const deleted = state.secrets.delete(name, seconds(ctx.now));
  if (!deleted) return notFound(ctx, name);
  send(ctx, 200, deletedBundle(state, deleted));
}

function getDeleted(state: EmulatorState, ctx: RequestContext, name: string): void {
  const deleted = state.secrets.getDeleted(name);
  if (!deleted) return kvError(ctx, 404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
  send(ctx, 200, deletedBundle(state, deleted));
}

function purge(state: EmulatorState, ctx: RequestContext, name: string): void {
  if (!state.secrets.purge(name))
    return kvError(ctx, 404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
  send(ctx, 204, undefined);
}

/** One page of `items` with Key Vault's `maxresults` / `$skiptoken` paging. */
function page(
  state: EmulatorState,
  ctx: RequestContext,
  items: ReadonlyArray<Record<string, unknown>>,
): void {
  const maxParam = ctx.query.get('maxresults');
  const max = maxParam === null ? 25 : Number(maxParam);
  if (!Number.isInteger(max) || max < 1 || max > 25) {
    return kvError(ctx, 400, 'BadParameter', 'Invalid maxresults: the value must be between 1 and 25.');
  }
  const token = ctx.query.get('$skiptoken');
  const start = token ? Number(Buffer.from(token, 'base64url').toString('utf8')) || 0 : 0;
  const end = start + max;
  let nextLink: string | null = null;
  if (end < items.length) {
    const next = new URLSearchParams({ 'api-version': ctx.query.get('api-version') ?? '' });
    next.set('$skiptoken', Buffer.from(String(end)).toString('base64url'));
    if (maxParam !== null) next.set('maxresults', String(max));
    nextLink = `${state.url}${ctx.url.pathname}?${next.toString().replace('%24skiptoken', '$skiptoken')}`;
  }
  send(ctx, 200, { value: items.slice(start, end), nextLink });
}

function listSecrets(state: EmulatorState, ctx: RequestContext): void {
  const items = state.secrets.names().flatMap((n) => {
    const latest = state.secrets.get(n);
    return latest ? [secretItem(state, n, latest, false)] : [];
  });
  page(state, ctx, items);
}

function listVersions(state: EmulatorState, ctx: RequestContext, name: string): void {
  const display = state.secrets.displayName(name);
  // Key Vault lists versions ordered by version id (as recorded), not by creation time.
  const versions = [...state.secrets.versions(name)].sort((a, b) => a.version.localeCompare(b.version));
  page(
    state,
    ctx,
    versions.map((v) => secretItem(state, display, v, true)),
  );
}
