import { ManagedIdentityCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';

import { sleep } from './waitFor';

/** Options of {@link startProbeClient}. */
export interface ProbeClientOptions {
  /** The real Key Vault client the probe reads its key with. */
  readonly vault: SecretClient;
  readonly secretName: string;
  readonly scoringUri: string;
  /**
   * Also re-read the key this often, keeping the cached one when the read fails (what App Service Key
   * Vault references do every 24 h against a 25 h grace; scaled down with the grace in fast tests).
   * Off when undefined: the key is re-read only after a 401.
   */
  readonly refreshEveryMs?: number;
  /** Pause between scoring calls. @default 25 */
  readonly pauseMs?: number;
}

/** What a probe saw. `rejected` is the number that must stay 0. */
export interface ProbeStats {
  /** Scoring calls answered with anything but 401/403. */
  accepted: number;
  /** Calls refused with 401/403 even after re-reading the key once. */
  rejected: number;
  /** Calls that got no answer (timeouts, resets) or whose key could not be read at all. */
  errors: number;
  /** Key Vault reads that failed (the cached key was kept). */
  vaultReadFailures: number;
  /** Every key value the probe held (for secret scans; never print). */
  readonly keysSeen: Set<string>;
}

/** A running probe. */
export interface ProbeClient {
  readonly stats: ProbeStats;
  /** Stops after the call in flight and returns the final counts. */
  stop(): Promise<ProbeStats>;
}

/**
 * A key consumer that a rotation must never break (it sees no downtime): reads the endpoint key from
 * Key Vault with the real `SecretClient`, scores continuously with it, and on a 401 re-reads the key at
 * most once before counting the call as rejected. Network failures are counted apart: they are not key rejections.
 */
export function startProbeClient(options: ProbeClientOptions): ProbeClient {
  const stats: ProbeStats = {
    accepted: 0,
    rejected: 0,
    errors: 0,
    vaultReadFailures: 0,
    keysSeen: new Set(),
  };
  let stopped = false;
  let key: string | undefined;
  let readAt = 0;
  const read = async (): Promise<void> => {
    try {
      const secret = await options.vault.getSecret(options.secretName);
      if (secret.value) {
        key = secret.value;
        stats.keysSeen.add(key);
      }
    } catch {
      stats.vaultReadFailures += 1;
    }
    readAt = Date.now();
  };
  const score = async (value: string): Promise<number | undefined> => {
    try {
      const response = await fetch(options.scoringUri, {
        method: 'POST',
        headers: { authorization: `Bearer ${value}`, 'content-type': 'application/json' },
        body: '{"data":[[1,2]]}',
        signal: AbortSignal.timeout(30_000),
      });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return undefined;
    }
  };
  const refused = (status: number | undefined): boolean => status === 401 || status === 403;
  const loop = (async () => {
    while (!stopped) {
      if (
        key === undefined ||
        (options.refreshEveryMs !== undefined && Date.now() - readAt >= options.refreshEveryMs)
      )
        await read();
      if (key === undefined) {
        stats.errors += 1;
        await sleep(250);
        continue;
      }
      let status = await score(key);
      if (refused(status)) {
        await read();
        status = await score(key);
      }
      if (status === undefined) stats.errors += 1;
      else if (refused(status)) stats.rejected += 1;
      else stats.accepted += 1;
      await sleep(options.pauseMs ?? 25);
    }
  })();
  return {
    stats,
    stop: async () => {
      stopped = true;
      await loop;
      return stats;
    },
  };
}

/**
 * A `SecretClient` for the Key Vault stand-in, authenticating as this process's managed identity
 * (point it at the stand-in with `useEmulatorIdentity` first). The stand-in lives on a loopback
 * address, which cannot pass the SDK's challenge host check.
 */
export function standInVaultClient(vaultUrl: string): SecretClient {
  return new SecretClient(vaultUrl, new ManagedIdentityCredential(), {
    disableChallengeResourceVerification: true,
  });
}
