import { randomUUID } from 'node:crypto';

import { type Clock, isoNow } from '../clock';
import type { EndpointRegistry } from '../endpoints/EndpointRegistry';
import type { KeySlot } from '../endpoints/ManagedEndpoint';
import type { Logger } from '../logging';
import type { EndpointKeyClient } from './EndpointKeyClient';
import { EndpointNotFoundError, requireKnownHere } from './errors';
import { HeldLease } from './HeldLease';
import { DRIFT_LEASE_OWNER_PREFIX, type RotationJournal } from './RotationJournal';
import { driftDetail, slotHolding } from './RotationPlanner';
import type { SecretStore } from './SecretStore';

/** Result of comparing Key Vault with the endpoint's keys. Carries names and versions, never a key. */
export interface DriftReport {
  readonly endpointId: string;
  /** False only when Key Vault's current version matches neither key. */
  readonly inSync: boolean;
  readonly status: 'inSync' | 'drift' | 'noSecret' | 'notKeyAuth' | 'rotationInProgress';
  /** The slot whose key Key Vault holds. */
  readonly slot?: KeySlot;
  readonly secretVersion?: string;
  readonly detail?: string;
  readonly checkedAt: string;
}

/** How long a check holds the endpoint's lease: two reads and at most one journal write. */
const DRIFT_LEASE_MS = 60_000;

/** Dependencies of {@link DriftDetector}. */
export interface DriftDetectorOptions {
  registry: EndpointRegistry;
  secrets: SecretStore;
  keys: EndpointKeyClient;
  journal: RotationJournal;
  clock: Clock;
  logger: Logger;
}

/**
 * Compares the current Key Vault value with `listKeys` and records the verdict on the endpoint's
 * journal row. It takes the endpoint's lease for the few milliseconds it needs, so it never reads a
 * half-done rotation or overwrites the row of a running one; during a rotation it answers
 * `rotationInProgress`. It publishes nothing: callers (the rotator, event reactions) decide that.
 */
export class DriftDetector {
  constructor(private readonly options: DriftDetectorOptions) {}

  /**
   * Checks one endpoint; throws `EndpointNotFoundError` when it is not registered, and
   * `EndpointNotKnownHereError` (temporary) when a newer version registered it with a kind or auth mode this
   * version does not know: it cannot tell how to read its keys, or whether it has any.
   * @param abortSignal - fires when the caller gave up (an Event Grid delivery out of time): the reads of the
   *   registry, Key Vault and the endpoint's keys stop, and no lease is taken after it. The journal's calls are
   *   not cut, so a lease taken is always released (a drift check's lease left behind holds rotation up).
   */
  async check(endpointId: string, abortSignal?: AbortSignal): Promise<DriftReport> {
    const { registry, secrets, keys, journal, clock, logger } = this.options;
    const endpoint = await registry.get(endpointId, abortSignal);
    if (!endpoint) throw new EndpointNotFoundError(endpointId);
    // No verdict rather than a wrong one (the router has no key client for the kind: a 422 that the event
    // reaction took as a definite no; an unknown auth mode read as "no keys"): the caller tries again, perhaps
    // on an instance of the version that registered it (the webhook answers 503 and Event Grid redelivers).
    requireKnownHere(endpoint);
    const checkedAt = isoNow(clock);
    const report = (r: Omit<DriftReport, 'endpointId' | 'checkedAt'>): DriftReport => ({
      endpointId,
      checkedAt,
      ...r,
    });
    if (endpoint.authMode !== 'Key') return report({ inSync: true, status: 'notKeyAuth' });

    abortSignal?.throwIfAborted();
    const owner = `${DRIFT_LEASE_OWNER_PREFIX}${randomUUID()}`;
    const held = await HeldLease.acquire(journal, endpointId, owner, DRIFT_LEASE_MS);
    if (!held) return report({ inSync: true, status: 'rotationInProgress' });
    return held.releaseAfter(async () => {
      const { state } = await journal.getState(endpointId);
      if (state.active) return report({ inSync: true, status: 'rotationInProgress' });
      const current = await secrets.getCurrent(endpoint.secretName, abortSignal);
      if (!current) return report({ inSync: true, status: 'noSecret' });
      const slot = current.enabled
        ? slotHolding(current, await keys.listKeys(endpoint, abortSignal))
        : undefined;
      if (slot) {
        if (state.drift?.detected)
          await held.write({
            state: { ...state, drift: { detected: false, at: checkedAt, detail: 'in sync again' } },
          });
        return report({ inSync: true, status: 'inSync', slot, secretVersion: current.version });
      }
      const detail = driftDetail(current);
      await held.write({
        state: { ...state, drift: { detected: true, at: checkedAt, detail } },
      });
      logger.warn('check => drift detected', {
        endpointId,
        secretName: endpoint.secretName,
        secretVersion: current.version,
      });
      return report({ inSync: false, status: 'drift', secretVersion: current.version, detail });
    });
  }
}
