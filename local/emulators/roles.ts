import { mlCustomRoleDefinition } from '../../shared/permissions';

const KV_SECRETS = 'Microsoft.KeyVault/vaults/secrets';

/** Built-in roles (lower-cased names) as action patterns; `*` matches any text, case-insensitive like Azure RBAC. */
function builtInRoles(): Record<string, string[]> {
  const custom = mlCustomRoleDefinition();
  return {
    owner: ['*'],
    contributor: ['*'],
    reader: ['*/read'],
    // The role's Actions `workspaces/*/read|action|delete|write`; its NotActions are left out: they deny
    // actions on the workspace itself, which no stand-in checks.
    'azureml data scientist': [
      'Microsoft.MachineLearningServices/workspaces/*/read',
      'Microsoft.MachineLearningServices/workspaces/*/action',
      'Microsoft.MachineLearningServices/workspaces/*/delete',
      'Microsoft.MachineLearningServices/workspaces/*/write',
    ],
    [custom.roleName.toLowerCase()]: [...custom.actions, ...custom.dataActions],
    'key vault administrator': ['Microsoft.KeyVault/vaults/*'],
    'key vault secrets officer': [`${KV_SECRETS}/*`],
    'key vault secrets user': [`${KV_SECRETS}/getSecret/action`, `${KV_SECRETS}/readMetadata/action`],
  };
}

function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 'i');
}

interface Grant {
  principalId: string;
  scope: string;
  patterns: RegExp[];
}

/**
 * Azure RBAC reduced to what the stand-ins check: open by default (every principal may do
 * everything, like an Owner), enforced only after {@link restrict}. A role is a built-in name or
 * one action string (wildcards allowed), granted at an ARM id prefix or at `keyvault`.
 */
export class RoleModel {
  private restricted = false;
  private readonly grants: Grant[] = [];
  private readonly roles = builtInRoles();

  /** Starts enforcing grants. */
  restrict(): void {
    this.restricted = true;
  }

  /** Grants `role` to `principalId` at `scope`. */
  grant(principalId: string, scope: string, role: string): void {
    const patterns =
      this.roles[role.toLowerCase()] ?? (role.includes('/') || role === '*' ? [role] : undefined);
    if (!patterns) throw new TypeError(`unknown role '${role}'`);
    this.grants.push({
      principalId,
      scope: scope.replace(/\/+$/, ''),
      patterns: patterns.map(patternToRegExp),
    });
  }

  /** Whether `principalId` may perform `action` on `resource` (an ARM id or `keyvault`). */
  allows(principalId: string, action: string, resource: string): boolean {
    if (!this.restricted) return true;
    return this.grants.some(
      (g) =>
        g.principalId === principalId &&
        scopeCovers(g.scope, resource) &&
        g.patterns.some((p) => p.test(action)),
    );
  }
}

function scopeCovers(scope: string, resource: string): boolean {
  if (scope === '' || scope === '*') return true;
  const s = scope.toLowerCase();
  const r = resource.toLowerCase();
  return r === s || r.startsWith(`${s}/`);
}
