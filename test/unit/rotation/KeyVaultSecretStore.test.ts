import { RestError } from '@azure/core-rest-pipeline';
import type { SecretClient } from '@azure/keyvault-secrets';

import { KeyVaultSecretStore } from '../../../shared/rotation/adapters/KeyVaultSecretStore';
import { signalRecordingSleep } from '../../fakes/sleeps';
import { settle } from '../../support/waitFor';

/** The SDK operations the store calls, each recording the options it was handed. */
function recordingClient(fail?: () => Error): {
  client: SecretClient;
  calls: Array<{ operation: string; abortSignal?: unknown }>;
} {
  const calls: Array<{ operation: string; abortSignal?: unknown }> = [];
  const answer = async <T>(operation: string, options: { abortSignal?: unknown } | undefined, value: T) => {
    calls.push({ operation, abortSignal: options?.abortSignal });
    if (fail) throw fail();
    return value;
  };
  const properties = { name: 's', version: 'v1', enabled: true, tags: {} };
  const client = {
    getSecret: (_name: string, options?: { abortSignal?: unknown }) =>
      answer('getSecret', options, { name: 's', value: 'key', properties }),
    setSecret: (_name: string, _value: string, options?: { abortSignal?: unknown }) =>
      answer('setSecret', options, { name: 's', value: 'key', properties }),
    updateSecretProperties: (_name: string, _version: string, options?: { abortSignal?: unknown }) =>
      answer('updateSecretProperties', options, properties),
    listPropertiesOfSecretVersions: (_name: string, options?: { abortSignal?: unknown }) =>
      (async function* () {
        yield await answer('listPropertiesOfSecretVersions', options, properties);
      })(),
  };
  return { client: client as unknown as SecretClient, calls };
}

const throttled = (): RestError =>
  new RestError('HTTP 429', {
    statusCode: 429,
    response: { headers: { get: (n: string) => (n === 'retry-after' ? '30' : undefined) } } as never,
  });

describe('Class: KeyVaultSecretStore (a caller that gives up)', () => {
  it('hands the caller signal to every SDK call, and none when the caller gives none', async () => {
    // Prepare
    const { client, calls } = recordingClient();
    const store = new KeyVaultSecretStore({ client, sleep: () => Promise.resolve() });
    const run = new AbortController();

    // Act
    await store.getCurrent('s', run.signal);
    await store.listVersions('s', run.signal);
    await store.setVersion('s', 'key', { tags: {} }, run.signal);
    await store.disableVersion('s', 'v1', run.signal);
    await store.getCurrent('s');

    // Assess
    expect(calls).toEqual([
      { operation: 'getSecret', abortSignal: run.signal },
      { operation: 'listPropertiesOfSecretVersions', abortSignal: run.signal },
      { operation: 'setSecret', abortSignal: run.signal },
      { operation: 'updateSecretProperties', abortSignal: run.signal },
      { operation: 'getSecret', abortSignal: undefined },
    ]);
  });

  it('ends a Retry-After pause when the caller gives up, with its reason, and tries no more', async () => {
    // Prepare: Key Vault throttles every write (Retry-After: 30 s); a sleep that never ends on its own
    // records the signal it is handed, which realSleep ends with, clearing its timer
    const { client, calls } = recordingClient(throttled);
    const { sleep, given } = signalRecordingSleep();
    const store = new KeyVaultSecretStore({ client, sleep });
    const run = new AbortController();
    const reason = new DOMException('The rotation run is out of time.', 'AbortError');
    const outcome = store.setVersion('s', 'key', { tags: {} }, run.signal).catch((error: unknown) => error);
    await settle();

    // Act
    run.abort(reason);

    // Assess: the run's reason (KeyRotator: ROTATION_OUT_OF_TIME), and one write sent, not a second after the abort
    expect(await Promise.race([outcome, settle().then(() => 'still pausing')])).toBe(reason);
    expect(given).toEqual([run.signal]);
    await settle();
    expect(calls.map((c) => c.operation)).toEqual(['setSecret']);
  });
});
