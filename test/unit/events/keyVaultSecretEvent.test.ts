import { vaultNameOf } from '../../../shared/events/keyVaultSecretEvent';

describe('Function: vaultNameOf', () => {
  it.each([
    ['https://myvault.vault.azure.net/', 'myvault'],
    ['https://My-Vault.vault.azure.net', 'my-vault'],
    ['https://kv-cn.vault.azure.cn', 'kv-cn'],
    ['https://kv-gov.vault.usgovcloudapi.net/', 'kv-gov'],
  ])('reads the vault name of %s', (url, name) => {
    // Act + Assess
    expect(vaultNameOf(url)).toBe(name);
  });

  it.each(['https://127.0.0.1:8443', 'https://localhost:8443/', 'https://vault.example.net/'])(
    'names no vault for %s (a stand-in), so events are not compared',
    (url) => {
      // Act + Assess
      expect(vaultNameOf(url)).toBeUndefined();
    },
  );
});
