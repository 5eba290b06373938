import { type Clock, isoNow, TimeLimitError, withinTimeLimitGivingUp } from '../clock';
import { DependencyUnavailableError } from '../errors';
import type { Logger } from '../logging';
import { SECRET_TAGS } from '../rotation/SecretStore';
import type { Telemetry } from '../telemetry';
import { type EventOutcome, eventOutcome } from './EventOutcome';
import type { EventsRotationPorts } from './EventsRotationPorts';
import { EVENT_TYPES, type IncomingEvent } from './IncomingEvent';
import { type KeyVaultSecretEvent, readKeyVaultSecretEvent } from './keyVaultSecretEvent';
import { reactionEventId, type RotationEvent, type RotationEventSink } from './RotationEvent';

/** Options of {@link KeyVaultReactions}. */
export interface KeyVaultReactionsOptions {
  rotation: EventsRotationPorts;
  sink: RotationEventSink;
  clock: Clock;
  logger: Logger;
  telemetry: Telemetry;
  /** Told when someone other than the rotation wrote an endpoint's current key (the broker drops its copy). */
  onKeyReplaced?: (endpointId: string) => void;
  /**
   * Name of the app's vault (`KEY_VAULT_URL`'s, see `vaultNameOf`): an event whose `VaultName` is another
   * is not ours, whatever its secret is called. Undefined (a local stand-in): not compared.
   */
  vaultName?: string;
  /**
   * Longest a reaction's publish (`DriftDetected`) may wait for the sink before the delivery is answered 503,
   * for Event Grid to deliver it again; the delivery's budget may end it sooner. @default 10000
   */
  publishTimeLimitMs?: number;
}

/**
 * Default of {@link KeyVaultReactionsOptions.publishTimeLimitMs}: Event Grid waits 30 s for the webhook's
 * answer, and the reaction's reads (registry, Key Vault, the drift check's) come before the publish.
 */
const PUBLISH_TIME_LIMIT_MS = 10_000;

/**
 * Reactions to Key Vault secret events on secrets the registry manages. Every reaction first reads the
 * secret's *current* version: an event about an older version is stale (already rotated, or delivered
 * out of order) and changes nothing, which makes redelivery and reordering harmless. Each takes the
 * delivery's budget (`EventWebhook`) as an abort signal and hands it to every call it makes, so a delivery
 * answered 503 for being out of time leaves no call running whose work would land after the answer.
 */
export class KeyVaultReactions {
  constructor(private readonly options: KeyVaultReactionsOptions) {}

  /** `SecretNearExpiry` / `SecretExpired` → enqueue a rotation (expired: urgent). */
  async onExpiry(event: IncomingEvent, abortSignal?: AbortSignal): Promise<EventOutcome> {
    const { rotation, logger, clock } = this.options;
    const expired = event.type === EVENT_TYPES.secretExpired;
    const kv = readKeyVaultSecretEvent(event);
    if (this.fromAnotherVault(kv, 'expiry')) return eventOutcome(event, 'notManaged');
    const endpoint = await rotation.registry.findBySecretName(kv.secretName, abortSignal);
    if (!endpoint) return eventOutcome(event, 'notManaged');
    if (!endpoint.enabled || endpoint.retiredAt) return eventOutcome(event, 'endpointInactive', endpoint.id);
    const current = await rotation.secrets.getCurrent(kv.secretName, abortSignal);
    if (current && kv.version && current.version !== kv.version) {
      logger.info('expiry => stale version, already rotated', {
        endpointId: endpoint.id,
        secretName: kv.secretName,
        eventVersion: kv.version,
        currentVersion: current.version,
      });
      return eventOutcome(event, 'staleVersion', endpoint.id);
    }
    const reason = expired ? 'expired' : 'nearExpiry';
    // An enqueue aborted after the queue took the job leaves it there, and the redelivery enqueues another:
    // harmless (the rotation lease and journal run one rotation).
    await rotation.jobs.enqueue(
      {
        endpointId: endpoint.id,
        reason,
        ...(expired ? { urgent: true } : {}),
        requestedAt: isoNow(clock),
      },
      { abortSignal },
    );
    const props = { endpointId: endpoint.id, secretName: kv.secretName, version: kv.version, reason };
    // An expired secret means consumers may already be failing: that is an incident, not routine.
    if (expired) logger.error('expired => secret expired, urgent rotation enqueued', props);
    else logger.info('nearExpiry => rotation enqueued', props);
    return eventOutcome(event, 'rotationEnqueued', endpoint.id);
  }

  /**
   * `SecretNewVersionCreated` → when the current version was not written by us (no `rotationId` tag),
   * check whether it still matches a key at the endpoint. On mismatch: record and alert, never
   * overwrite: a human may have set it on purpose.
   */
  async onNewVersion(event: IncomingEvent, abortSignal?: AbortSignal): Promise<EventOutcome> {
    const { rotation, logger, telemetry, clock } = this.options;
    const kv = readKeyVaultSecretEvent(event);
    if (this.fromAnotherVault(kv, 'newVersion')) return eventOutcome(event, 'notManaged');
    const endpoint = await rotation.registry.findBySecretName(kv.secretName, abortSignal);
    if (!endpoint) return eventOutcome(event, 'notManaged');
    if (endpoint.retiredAt) return eventOutcome(event, 'endpointInactive', endpoint.id);
    const current = await rotation.secrets.getCurrent(kv.secretName, abortSignal);
    if (!current || (kv.version && current.version !== kv.version))
      return eventOutcome(event, 'staleVersion', endpoint.id);
    if (current.tags[SECRET_TAGS.rotationId]) return eventOutcome(event, 'ownWrite', endpoint.id);
    // A rotation leaves the replaced key working for the grace period; a person's write (fixing drift,
    // say) promises nothing about the key it replaced.
    this.options.onKeyReplaced?.(endpoint.id);

    const report = await rotation.drift.check(endpoint.id, abortSignal);
    // A rotation in progress (running, or journaled and awaiting resumption) meant nothing was compared.
    // Not "in sync", and not retried either: the rotation's own steps compare Key Vault with the endpoint
    // again before they regenerate or finish (a wrong key is reported there), and a retry would meet a
    // stuck rotation for Event Grid's whole day, or the local demo's rotations every few minutes.
    if (report.status === 'rotationInProgress') {
      logger.info('newVersion => a rotation is in progress; its next step compares Key Vault again', {
        endpointId: endpoint.id,
        version: current.version,
      });
      return eventOutcome(event, 'rotationInProgress', endpoint.id);
    }
    if (report.status !== 'drift') {
      logger.info('newVersion => external write matches an endpoint key', {
        endpointId: endpoint.id,
        version: current.version,
      });
      return eventOutcome(event, 'inSync', endpoint.id);
    }
    const props = { endpointId: endpoint.id, secretName: kv.secretName, version: current.version };
    logger.warn('newVersion => drift detected, secret left as written', props);
    telemetry.trackEvent('DriftDetected', { ...props, source: 'SecretNewVersionCreated' });
    await this.publishOrRetry(
      {
        event: {
          type: 'DriftDetected',
          endpointId: endpoint.id,
          secretName: kv.secretName,
          secretVersion: current.version,
          reason: 'externalWrite',
          time: isoNow(clock),
        },
        // Named after the incoming event: a redelivery of it (a 503 after this, a twin) publishes the same id.
        eventId: reactionEventId(event.id, 'DriftDetected'),
      },
      abortSignal,
    );
    return eventOutcome(event, 'driftDetected', endpoint.id);
  }

  /**
   * Publishes a reaction's event within {@link KeyVaultReactionsOptions.publishTimeLimitMs}. A sink that
   * answers takes the event (sent, or held for a retry when the topic refused it: the delivery is answered
   * 200 either way). One that does not is given up, its send and any hold aborted, and the delivery is
   * answered 503 rather than late: Event Grid delivers it again, and the reaction publishes under the same
   * id then. Holding the event as well would send it twice. The delivery's budget (`abortSignal`) cuts it the
   * same way when it runs out first.
   * @throws DependencyUnavailableError (503) when the time limit passed
   */
  private async publishOrRetry(
    published: { event: RotationEvent; eventId: string },
    abortSignal: AbortSignal | undefined,
  ): Promise<void> {
    const { event, eventId } = published;
    const limitMs = this.options.publishTimeLimitMs ?? PUBLISH_TIME_LIMIT_MS;
    try {
      await withinTimeLimitGivingUp(
        (signal) => this.options.sink.publish(event, eventId, signal),
        limitMs,
        abortSignal,
      );
    } catch (error) {
      // The delivery's budget, spent: the webhook answers for it.
      if (abortSignal?.aborted || !(error instanceof TimeLimitError)) throw error;
      throw new DependencyUnavailableError(
        'eventGrid',
        `Event Grid did not take the ${event.type} event within ${limitMs / 1000} s; the delivery is retried.`,
        { cause: error },
      );
    }
  }

  /**
   * An event about a secret of another vault (a subscription on another vault, or on a copy of this one,
   * delivering here): the secret of the same name in the app's vault is not what changed.
   */
  private fromAnotherVault(kv: KeyVaultSecretEvent, reaction: 'expiry' | 'newVersion'): boolean {
    const ours = this.options.vaultName;
    if (!ours || !kv.vaultName || kv.vaultName.toLowerCase() === ours.toLowerCase()) return false;
    this.options.logger.info(`${reaction} => event about another vault, not ours`, {
      vaultName: kv.vaultName,
      secretName: kv.secretName,
    });
    return true;
  }
}
