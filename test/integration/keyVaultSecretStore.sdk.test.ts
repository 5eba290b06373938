import { ManagedIdentityCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';

import type { RunningEmulators } from '../../local/emulators';
import { KeyVaultSecretStore } from '../../shared/rotation/adapters/KeyVaultSecretStore';
import type { SecretDeletedError } from '../../shared/rotation/errors';
import { needsOperator } from '../../shared/rotation/operatorHold';
import { SECRET_TAGS } from '../../shared/rotation/SecretStore';
import { useEmulatorIdentity, withEmulators } from '../support/emulators';

let em: RunningEmulators;
let restoreEnv: () => void;
let store: KeyVaultSecretStore;

beforeAll(async () => {
  em = await withEmulators();
  restoreEnv = useEmulatorIdentity(em);
  // Same client options as shared/azureClients.ts against the stand-in.
  const client = new SecretClient(em.url, new ManagedIdentityCredential(), {
    disableChallengeResourceVerification: true,
  });
  store = new KeyVaultSecretStore({ client, sleep: () => Promise.resolve() });
});

afterAll(async () => {
  restoreEnv();
  await em.stop();
});

describe('Class: KeyVaultSecretStore with the real SecretClient against the Key Vault stand-in', () => {
  it('reports a disabled latest version as the current one, never an older enabled version', async () => {
    // Prepare: a rotation's version (its rotatedAt tag from an app clock 1.5 s ahead of Key Vault's),
    // then a version written by hand just after it (no tags, createdOn in whole seconds), then disabled.
    const rotated = await store.setVersion('disabled-latest', 'rotated-key', {
      tags: { [SECRET_TAGS.rotatedAt]: new Date(Date.now() + 1500).toISOString() },
    });
    const byHand = await store.setVersion('disabled-latest', 'hand-written-key', { tags: {} });
    await store.disableVersion('disabled-latest', byHand.version);

    // Act: Key Vault refuses the latest version (403 SecretDisabled), so the store reads the version list.
    const current = await store.getCurrent('disabled-latest');

    // Assess: the version Key Vault refused, not the older enabled one with an empty value, which drift
    // detection would report as "matches neither key" instead of "is disabled".
    expect(rotated.version).not.toBe(byHand.version);
    expect(current).toMatchObject({ version: byHand.version, enabled: false, value: '' });
  });
});

describe('Class: KeyVaultSecretStore writing a secret that was deleted', () => {
  it('refuses with SECRET_DELETED, a failure only a person can fix, instead of a plain dependency failure', async () => {
    // Prepare: a secret deleted by hand; Key Vault keeps its name (soft delete) until it is recovered or purged.
    await store.setVersion('deleted-by-hand', 'old-key', { tags: {} });
    const client = new SecretClient(em.url, new ManagedIdentityCredential(), {
      disableChallengeResourceVerification: true,
    });
    const poller = await client.beginDeleteSecret('deleted-by-hand', { intervalInMs: 10 });
    await poller.pollUntilDone();

    // Act: Key Vault answers 409 Conflict, innererror ObjectIsDeletedButRecoverable.
    const failure = await store.setVersion('deleted-by-hand', 'new-key', { tags: {} }).then(
      () => undefined,
      (error: unknown) => error,
    );

    // Assess: a code the timer holds for a day (needsOperator), and a message that names the remedy, not the value.
    expect(failure).toMatchObject({ code: 'SECRET_DELETED' });
    expect(needsOperator((failure as SecretDeletedError).code)).toBe(true);
    expect((failure as Error).message).toMatch(/deleted-by-hand.*recover/);
    expect((failure as Error).message).not.toContain('new-key');
  });
});
