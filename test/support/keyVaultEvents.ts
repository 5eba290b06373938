import { randomUUID } from 'node:crypto';

import { sleep } from './waitFor';

/** A Key Vault secret event in the Event Grid schema, shaped like the recorded deliveries in test/fixtures. */
export interface SecretEvent {
  readonly id: string;
  readonly topic: string;
  readonly subject: string;
  readonly eventType: string;
  readonly eventTime: string;
  readonly data: Record<string, unknown>;
  readonly dataVersion: string;
  readonly metadataVersion: string;
}

/** Builds one `Microsoft.KeyVault.Secret*` event about a version of a secret. */
export function secretEvent(
  kind: 'SecretNearExpiry' | 'SecretExpired' | 'SecretNewVersionCreated',
  vaultUrl: string,
  secretName: string,
  version: string,
  id: string = randomUUID(),
): SecretEvent {
  return {
    id,
    topic:
      '/subscriptions/00000000-0000-0000-0000-0000000000f1/resourceGroups/rg-fm/providers/Microsoft.KeyVault/vaults/fm-vault',
    subject: secretName,
    eventType: `Microsoft.KeyVault.${kind}`,
    eventTime: new Date().toISOString(),
    data: {
      Id: `${vaultUrl}/secrets/${secretName}/${version}`,
      VaultName: 'fm-vault',
      ObjectType: 'Secret',
      ObjectName: secretName,
      Version: version,
      NBF: null,
      EXP: Math.floor(Date.now() / 1000) + (kind === 'SecretExpired' ? -1 : 60),
    },
    dataVersion: '1',
    metadataVersion: '1',
  };
}

/**
 * Delivers events to a host's webhook like Event Grid: `POST /api/events?code=<function key>` with
 * `aeg-event-type: Notification`, retrying 5xx and connection failures (Event Grid retries with
 * backoff) up to `attempts` times. Returns the status of every attempt.
 */
export async function deliver(
  hostUrl: string,
  functionKey: string,
  events: readonly SecretEvent[],
  attempts = 20,
): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < attempts; i += 1) {
    let status = 0;
    try {
      const response = await fetch(`${hostUrl}/api/events?code=${encodeURIComponent(functionKey)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
        body: JSON.stringify(events),
        signal: AbortSignal.timeout(30_000),
      });
      await response.arrayBuffer();
      status = response.status;
    } catch {
      status = 0;
    }
    statuses.push(status);
    if (status > 0 && status < 500) return statuses;
    await sleep(1_000);
  }
  return statuses;
}
