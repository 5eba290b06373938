import { type RequestContext, send } from './httpUtil';
import type { DeletedSecret, SecretVersion } from './secretStore';
import type { EmulatorState } from './state';

/** What a deleted version keeps for recovery (the recorded value for RBAC vaults with purge protection off). */
const RECOVERY = { recoveryLevel: 'CustomizedRecoverable+Purgeable', recoverableDays: 7 } as const;

/** Fake resource id of the vault, for RBAC error messages. */
export const VAULT_RESOURCE_ID =
  '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/local/providers/microsoft.keyvault/vaults/local-vault';

/** `attributes` of a secret bundle, in Key Vault's order. */
function attributes(v: SecretVersion): Record<string, unknown> {
  return {
    enabled: v.enabled,
    ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
    ...(v.exp !== undefined ? { exp: v.exp } : {}),
    created: v.created,
    updated: v.updated,
    ...RECOVERY,
  };
}

/** SecretBundle (`value` only where Key Vault sends it: set and get, not update). */
export function secretBundle(
  state: EmulatorState,
  name: string,
  v: SecretVersion,
  withValue: boolean,
): Record<string, unknown> {
  return {
    ...(withValue ? { value: v.value } : {}),
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    id: `${state.url}/secrets/${name}/${v.version}`,
    attributes: attributes(v),
    ...(v.tags !== undefined ? { tags: v.tags } : {}),
  };
}

/** SecretItem of a list (no value); `versioned` is false for the list of secrets. */
export function secretItem(
  state: EmulatorState,
  name: string,
  v: SecretVersion,
  versioned: boolean,
): Record<string, unknown> {
  return {
    id: versioned ? `${state.url}/secrets/${name}/${v.version}` : `${state.url}/secrets/${name}`,
    attributes: attributes(v),
    ...(v.tags !== undefined ? { tags: v.tags } : {}),
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
  };
}

/** DeletedSecretBundle as DELETE and GET /deletedsecrets answer it. */
export function deletedBundle(state: EmulatorState, d: DeletedSecret): Record<string, unknown> {
  const rest = secretBundle(state, d.name, d.latest, false);
  return {
    recoveryId: `${state.url}/deletedsecrets/${d.name}`,
    deletedDate: d.deletedDate,
    scheduledPurgeDate: d.deletedDate + RECOVERY.recoverableDays * 86400,
    ...rest,
  };
}

/** The challenge every Key Vault 401 carries (recorded form). */
export function challengeHeader(state: EmulatorState): string {
  return `Bearer authorization="https://login.windows.net/${state.tenantId}", resource="https://vault.azure.net"`;
}

/** Key Vault error body `{ error: { code, message, innererror? } }`. */
export function kvError(
  ctx: RequestContext,
  status: number,
  code: string,
  message: string,
  extra: { inner?: string; headers?: Record<string, string> } = {},
): void {
  const error = { code, message, ...(extra.inner ? { innererror: { code: extra.inner } } : {}) };
  send(ctx, status, { error }, { 'x-content-type-options': 'nosniff', ...extra.headers });
}

/** The 404 body Key Vault sends for a missing secret (recorded message). */
export function notFound(ctx: RequestContext, id: string): void {
  kvError(
    ctx,
    404,
    'SecretNotFound',
    `A secret with (name/id) ${id} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

/** The 403 body of an RBAC denial (format of real Key Vault RBAC errors). */
export function rbacDenied(
  ctx: RequestContext,
  caller: { appid: string; oid: string; iss: string },
  action: string,
  name: string,
): void {
  const message = [
    'Caller is not authorized to perform action on resource.',
    'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.',
    `Caller: appid=${caller.appid};oid=${caller.oid};iss=${caller.iss}`,
    `Action: '${action}'`,
    `Resource: '${VAULT_RESOURCE_ID}/secrets/${name.toLowerCase()}'`,
    'Assignment: (not found)',
    'DenyAssignmentId: null',
    'DecisionReason: null ',
    'Vault: local-vault;location=westeurope',
    '',
  ].join('\r\n');
  kvError(ctx, 403, 'Forbidden', message, { inner: 'ForbiddenByRbac' });
}
