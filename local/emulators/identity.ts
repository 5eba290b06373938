import { randomUUID } from 'node:crypto';

import { type RequestContext, seconds, send } from './httpUtil';
import type { EmulatorState, IdentityRecord } from './state';

/** The App Service error shape `{ statusCode, message, correlationId }`. */
export function identityError(
  ctx: RequestContext,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  send(ctx, status, { statusCode: status, message, correlationId: randomUUID() }, headers);
}

/** `aud` for a requested resource: without a trailing slash or `/.default`. */
export function audienceOf(resource: string): string {
  return resource.replace(/\/\.default$/, '').replace(/\/+$/, '');
}

/** 2017-09-01 answers `expires_on` as `MM/dd/yyyy HH:mm:ss +00:00` (recorded), 2019-08-01 as epoch seconds. */
function legacyDate(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +00:00`;
}

function selectIdentity(
  state: EmulatorState,
  q: URLSearchParams,
  legacy: boolean,
): IdentityRecord | undefined | 'unknown' {
  const clientId = legacy ? q.get('clientid') : q.get('client_id');
  const principalId = q.get('principal_id') ?? q.get('object_id');
  const resourceId = q.get('mi_res_id');
  const all = [...state.userAssigned.values()];
  if (clientId) return state.userAssigned.get(clientId.toLowerCase()) ?? 'unknown';
  if (principalId)
    return all.find((i) => i.principalId.toLowerCase() === principalId.toLowerCase()) ?? 'unknown';
  if (resourceId)
    return all.find((i) => i.resourceId.toLowerCase() === resourceId.toLowerCase()) ?? 'unknown';
  return undefined;
}

/**
 * `GET /msi/token` — the App Service managed-identity protocol (2019-08-01 with `X-IDENTITY-HEADER`,
 * 2017-09-01 with `secret`). Answers an RS256 JWT for the requested resource and echoes `resource`
 * exactly (msal-node caches by it).
 */
export function handleIdentityToken(state: EmulatorState, ctx: RequestContext): void {
  const apiVersion = ctx.query.get('api-version');
  const legacy = apiVersion === '2017-09-01';
  if (apiVersion !== '2019-08-01' && !legacy) {
    state.count('identity.rejected');
    identityError(
      ctx,
      400,
      `The api-version '${apiVersion ?? ''}' is invalid. Supported versions are 2017-09-01 and 2019-08-01.`,
    );
    return;
  }
  const header = legacy ? ctx.req.headers.secret : ctx.req.headers['x-identity-header'];
  if (header !== state.identityHeader) {
    state.count('identity.rejected');
    identityError(
      ctx,
      401,
      `Unauthorized: the ${legacy ? 'secret' : 'X-IDENTITY-HEADER'} header is missing or invalid.`,
    );
    return;
  }
  const resource = ctx.query.get('resource');
  if (!resource) {
    state.count('identity.rejected');
    identityError(ctx, 400, "Required query parameter 'resource' is missing.");
    return;
  }
  const selected = selectIdentity(state, ctx.query, legacy);
  if (selected === 'unknown') {
    state.count('identity.rejected');
    identityError(ctx, 400, 'Unable to load the proper Managed Identity.');
    return;
  }
  const identity = selected ?? state.system;
  const now = seconds(ctx.now);
  const exp = now + state.settings.tokenLifetimeSeconds;
  const accessToken = state.jwt.sign({
    aud: audienceOf(resource),
    iss: `https://sts.windows.net/${state.tenantId}/`,
    iat: now,
    nbf: now,
    exp,
    appid: identity.clientId,
    appidacr: '2',
    idtyp: 'app',
    oid: identity.principalId,
    sub: identity.principalId,
    tid: state.tenantId,
    ver: '1.0',
    ...(identity.resourceId ? { xms_mirid: identity.resourceId } : {}),
  });
  send(ctx, 200, {
    access_token: accessToken,
    expires_on: legacy ? legacyDate(exp) : String(exp),
    resource,
    token_type: 'Bearer',
    client_id: identity.clientId,
  });
}
