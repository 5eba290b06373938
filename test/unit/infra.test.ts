import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { renderRoleDefinition } from '../../local/generateRoleDefinition';
import { SETTINGS } from '../../shared/config';
import {
  armActions,
  armDataActions,
  eventGridDataActions,
  keyVaultDataActions,
  permissionFor,
  PERMISSIONS,
} from '../../shared/permissions';
import { pendingSecretName } from '../../shared/rotation/SecretStore';

const root = resolve(__dirname, '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

/** Settings the template deliberately does not set in Azure, with the reason. */
const EXEMPT_SETTINGS: Record<string, string> = {
  AzureWebJobsStorage:
    'connection string with a shared key; in Azure shared-key access is off and AzureWebJobsStorage__accountName is set instead',
  KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION:
    'only for the local Key Vault stand-in on a loopback address; must stay false (unset) in Azure',
  AzureFunctionsJobHost__functionTimeout:
    "an operator's override of host.json's functionTimeout; unset, host.json's holds",
};

/** SDK call patterns in shared/ → the operation name PERMISSIONS must cover. */
const CALL_PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\.onlineEndpoints\.get\(/, 'onlineEndpoints.get'],
  [/\.onlineEndpoints\.list\(/, 'onlineEndpoints.list'],
  [/\.onlineEndpoints\.listKeys\(/, 'onlineEndpoints.listKeys'],
  [/\.onlineEndpoints\.beginRegenerateKeys\(/, 'onlineEndpoints.beginRegenerateKeys'],
  [/\.onlineEndpoints\.beginRegenerateKeysAndWait\(/, 'onlineEndpoints.beginRegenerateKeysAndWait'],
  [/\.onlineEndpoints\.getToken\(/, 'onlineEndpoints.getToken'],
  [/\.serverlessEndpoints\.get\(/, 'serverlessEndpoints.get'],
  [/\.serverlessEndpoints\.listKeys\(/, 'serverlessEndpoints.listKeys'],
  [/\.serverlessEndpoints\.beginRegenerateKeys(AndWait)?\(/, 'serverlessEndpoints.beginRegenerateKeys'],
  [/\/onlineEndpoints\/[^'"`]*\/listKeys/i, 'onlineEndpoints.listKeys'],
  [/\/onlineEndpoints\/[^'"`]*\/regenerateKeys/i, 'onlineEndpoints.beginRegenerateKeys'],
  [/\/onlineEndpoints\/[^'"`]*\/token/i, 'onlineEndpoints.getToken'],
  [/\/serverlessEndpoints\/[^'"`]*\/listKeys/i, 'serverlessEndpoints.listKeys'],
  [/\/serverlessEndpoints\/[^'"`]*\/regenerateKeys/i, 'serverlessEndpoints.beginRegenerateKeys'],
  [/\/services\/[^'"`]*\/listkeys/i, 'services.aks.listKeys'],
  [/\/services\/[^'"`]*\/token/i, 'services.aks.getToken'],
  // The v1 model-management client builds `…/services/{name}` + one of these suffixes.
  [/\/modelmanagement\/v1\.0\//, 'services.get'],
  [/'\/listkeys'/, 'services.aks.listKeys'],
  [/'\/regenerateKeys'[\s\S]{0,120}keyType: slot \}/, 'services.aks.regenerateKeys'],
  [/'\/token'/, 'services.aks.getToken'],
  [/'operation-location'/, 'services.operations.get'],
  [/\.getSecret\(/, 'SecretClient.getSecret'],
  [/\.setSecret\(/, 'SecretClient.setSecret'],
  [/\.updateSecretProperties\(/, 'SecretClient.updateSecretProperties'],
  [/\.listPropertiesOfSecretVersions\(/, 'SecretClient.listPropertiesOfSecretVersions'],
  [/\.listPropertiesOfSecrets\(/, 'SecretClient.listPropertiesOfSecrets'],
  // Not granted on purpose: finding one of these must fail until PERMISSIONS and the roles say why.
  [/\.beginDeleteSecret\(/, 'SecretClient.beginDeleteSecret'],
  [/\.purgeDeletedSecret\(/, 'SecretClient.purgeDeletedSecret'],
  [/\.backupSecret\(/, 'SecretClient.backupSecret'],
  [/\.onlineEndpoints\.(beginCreateOrUpdate|beginDelete|beginUpdate)/, 'onlineEndpoints.write'],
  [/new EventGridPublisherClient\(/, 'EventGridPublisherClient.send'],
];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

function appSettingNames(bicep: string): Set<string> {
  const block = /var baseSettings = \{([\s\S]*?)\n\}/.exec(bicep)?.[1] ?? '';
  return new Set([...block.matchAll(/^\s+([A-Za-z_][A-Za-z0-9_]*):/gm)].map((m) => m[1] ?? ''));
}

describe('Module: infra', () => {
  const functionApp = read('infra/modules/functionApp.bicep');

  describe('Method: ml-custom-role.json', () => {
    it('equals what local/generateRoleDefinition.ts renders from shared/permissions.ts', () => {
      // Prepare
      const onDisk: unknown = JSON.parse(read('infra/ml-custom-role.json'));
      // Act
      const generated: unknown = JSON.parse(renderRoleDefinition());
      // Assess
      expect(onDisk).toEqual(generated);
    });

    it('grants exactly the ML actions of the list, without wildcards or NotActions', () => {
      // Prepare
      const role = JSON.parse(read('infra/ml-custom-role.json')) as Record<string, string[]>;
      // Act
      const granted = [...(role.actions ?? []), ...(role.dataActions ?? [])];
      // Assess
      expect([...(role.actions ?? [])].sort()).toEqual(armActions().sort());
      expect([...(role.dataActions ?? [])].sort()).toEqual(armDataActions().sort());
      expect(granted.filter((a) => a.includes('*'))).toEqual([]);
      expect(new Set(granted.map((a) => a.toLowerCase())).size).toBe(granted.length);
      expect(granted.every((a) => a.startsWith('Microsoft.MachineLearningServices/workspaces/'))).toBe(true);
      expect(role.notActions).toEqual([]);
      expect(role.notDataActions).toEqual([]);
    });

    it('is loaded by mlRole.bicep and used for every permission list', () => {
      // Prepare
      const bicep = read('infra/modules/mlRole.bicep');
      // Act
      const loads = bicep.includes("loadJsonContent('../ml-custom-role.json')");
      // Assess
      expect(loads).toBe(true);
      for (const field of ['actions', 'notActions', 'dataActions', 'notDataActions']) {
        expect(bicep).toContain(`${field}: roleJson.${field}`);
      }
    });

    it('names the role uniquely in the tenant, not only by resource group name', () => {
      // Prepare: custom role names must be unique in the tenant, and resource group names repeat across
      // subscriptions (rg-amlcb in a dev and a prod subscription).
      const bicep = read('infra/modules/mlRole.bicep');
      // Act
      const roleName = /^\s+roleName: (.*)$/m.exec(bicep)?.[1] ?? '';
      // Assess
      expect(roleName).toMatch(/subscription\(\)\.subscriptionId|resourceGroup\(\)\.id/);
    });
  });

  describe('Method: PERMISSIONS', () => {
    it('has well-formed, unique actions of the right provider per kind', () => {
      // Prepare
      const actions = PERMISSIONS.map((p) => p.action.toLowerCase());
      // Act
      const unique = new Set(actions);
      // Assess
      expect(unique.size).toBe(actions.length);
      expect(keyVaultDataActions().every((a) => a.startsWith('Microsoft.KeyVault/vaults/secrets/'))).toBe(
        true,
      );
      expect(eventGridDataActions()).toEqual(['Microsoft.EventGrid/topics/events/send/action']);
      for (const p of PERMISSIONS) expect(p.why.length).toBeGreaterThan(10);
    });

    it('covers every SDK operation called in shared/', () => {
      // Prepare: files may still be appearing (rotation, broker); whatever exists now is checked strictly.
      const files = tsFiles(join(root, 'shared')).filter((f) => !f.endsWith('permissions.ts'));
      const found = new Map<string, string>();
      // Act
      for (const file of files) {
        const text = readFileSync(file, 'utf8');
        for (const [pattern, operation] of CALL_PATTERNS) {
          if (pattern.test(text)) found.set(operation, file.slice(root.length + 1));
        }
      }
      const missing = [...found].filter(([operation]) => !permissionFor(operation));
      // Assess
      expect(missing).toEqual([]);
      expect(found.size).toBeGreaterThan(0);
    });
  });

  describe('Method: functionApp.bicep', () => {
    it('sets every setting from shared/config.ts SETTINGS except the documented exemptions', () => {
      // Prepare
      const names = Object.values(SETTINGS).map((s) => s.name);
      // Act
      const set = appSettingNames(functionApp);
      const notSet = names.filter((n) => !set.has(n) && !(n in EXEMPT_SETTINGS));
      // Assess
      expect(notSet).toEqual([]);
      expect(Object.keys(EXEMPT_SETTINGS).filter((n) => set.has(n))).toEqual([]);
      expect(Object.keys(EXEMPT_SETTINGS).every((n) => names.includes(n))).toBe(true);
    });

    it('sets secret settings only through Key Vault references', () => {
      // Prepare
      const secrets = Object.values(SETTINGS).filter((s) => 'secret' in s && s.secret === true);
      // Act
      const lines = secrets.map((s) => new RegExp(`^\\s+${s.name}: (.*)$`, 'm').exec(functionApp)?.[1] ?? '');
      // Assess
      expect(secrets.map((s) => s.name).sort()).toEqual(['BROKER_SECRET_PEPPER', 'EVENT_GRID_TOPIC_KEY']);
      for (const line of lines) {
        expect(line).toContain("'@Microsoft.KeyVault(SecretUri=${");
        expect(line.replace(/'@Microsoft\.KeyVault\(SecretUri=\$\{\w+\}\)'/, '')).not.toMatch(/'[^']+'/);
      }
    });

    it('runs Node 22 on Flex Consumption with identity-based storage', () => {
      // Act
      const set = appSettingNames(functionApp);
      // Assess
      expect(functionApp).toMatch(/name: 'FC1'/);
      expect(functionApp).toMatch(/name: 'node'\s+version: '22'/);
      expect(set.has('AzureWebJobsStorage__accountName')).toBe(true);
      expect(read('infra/modules/storage.bicep')).toContain('allowSharedKeyAccess: false');
      expect(read('infra/modules/keyVault.bicep')).toMatch(
        /enableRbacAuthorization: true[\s\S]*enablePurgeProtection: true/,
      );
    });
  });

  describe('Method: main.bicep', () => {
    it('derives a valid storage account name from an azd environment name with hyphens', () => {
      // Prepare: azd passes its environment name (letters, digits, hyphens: amlcb-dev) as baseName,
      // and storage account names allow lowercase letters and digits only.
      const bicep = read('infra/main.bicep');
      // Act
      const expression = /^var storageAccountName = (.*)$/m.exec(bicep)?.[1] ?? '';
      // Assess
      expect(expression).toMatch(/replace\(.*'-', ''\)/);
      expect(expression).toMatch(/toLower\(/);
      expect(expression).toMatch(/take\(.*, 24\)$/);
    });

    it('subscribes the vault system topic to exactly the three secret events', () => {
      // Prepare
      const bicep = read('infra/modules/eventGrid.bicep');
      // Act
      const types = [...bicep.matchAll(/'(Microsoft\.KeyVault\.Secret\w+)'/g)].map((m) => m[1]);
      // Assess
      expect(types.sort()).toEqual([
        'Microsoft.KeyVault.SecretExpired',
        'Microsoft.KeyVault.SecretNearExpiry',
        'Microsoft.KeyVault.SecretNewVersionCreated',
      ]);
      expect(bicep).toContain('deadLetterDestination');
      expect(bicep).toContain('retryPolicy');
      // Exact secret names, and the rotation's own `<secret>-pending` writes never delivered.
      expect(pendingSecretName('scoring-key')).toBe('scoring-key-pending');
      expect(bicep).toMatch(/operatorType: 'StringIn'\s+key: 'subject'\s+values: managedSecretNames/);
      expect(bicep).toMatch(/operatorType: 'StringNotEndsWith'\s+key: 'subject'\s+values: \[\s+'-pending'/);
    });

    it("stays within Event Grid's 25 advanced filter values per subscription at the most names allowed", () => {
      // Prepare
      const bicep = read('infra/modules/eventGrid.bicep');
      const maxNames = (text: string) =>
        Number(/@maxLength\((\d+)\)\s+param managedSecretNames array/.exec(text)?.[1] ?? NaN);
      const filterValues = (name: string): number => {
        const block = new RegExp(`var ${name} = \\{([\\s\\S]*?)\\n\\}`).exec(bicep)?.[1] ?? '';
        if (/values: managedSecretNames/.test(block)) return maxNames(bicep);
        return [...(/values: \[([^\]]*)\]/.exec(block)?.[1] ?? '').matchAll(/'[^']*'/g)].length;
      };
      // Act: the filters used when names are given.
      const withNames = /advancedFilters: empty\(managedSecretNames\) \? \[\w+\] : \[([^\]]+)\]/.exec(
        bicep,
      )?.[1];
      const used = (withNames ?? '').split(',').map((v) => v.trim());
      const total = used.reduce((sum, name) => sum + filterValues(name), 0);
      // Assess
      expect(used).toContain('namesFilter');
      expect(total).toBeLessThanOrEqual(25);
      expect(maxNames(read('infra/main.bicep'))).toBeLessThanOrEqual(maxNames(bicep));
    });
  });
});

describe('Module: docs/security.md', () => {
  it('lists every permission the app can use', () => {
    // Prepare
    const doc = read('docs/security.md');
    // Act
    const absent = PERMISSIONS.filter((p) => !doc.includes(`\`${p.action}\``)).map((p) => p.action);
    // Assess
    expect(absent).toEqual([]);
  });

  it('names, beside each permission, every SDK operation it covers', () => {
    // Prepare
    const rows = read('docs/security.md').split('\n');
    // Act
    const missing = PERMISSIONS.flatMap((p) => {
      const row = rows.find((line) => line.includes(`\`${p.action}\``)) ?? '';
      return (p.operations as readonly string[]).filter((op) => !row.includes(`\`${op}\``));
    });
    // Assess
    expect(missing).toEqual([]);
  });
});
