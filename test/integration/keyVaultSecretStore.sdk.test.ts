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

describe('Class: KeyVaultSecretStore given up by its caller (a rotation run out of time)', () => {
  it('gives up a write Key Vault is slow to answer as soon as the signal fires, through the real SecretClient', async () => {
    // Prepare: a token for the store (read once, unhurried); then Key Vault takes 20 s per request
    await store.getCurrent('given-up');
    em.control.setFault('keyVault', { latencyMs: 20_000 });
    const run = new AbortController();
    setTimeout(() => run.abort(new DOMException('The rotation run is out of time.', 'AbortError')), 300);

    // Act
    const started = Date.now();
    const failure = await store.setVersion('given-up', 'new-key', { tags: {} }, run.signal).then(
      () => undefined,
      (error: unknown) => error,
    );
    const ms = Date.now() - started;
    em.control.clearFaults();

    // Assess: an abort (KeyRotator: ROTATION_OUT_OF_TIME), not Key Vault's answer 20 s later or a retry
    expect((failure as Error).name).toBe('AbortError');
    expect(ms).toBeLessThan(5000);
    expect((failure as Error).message).not.toContain('new-key');
  }, 30_000);
});
