import { randomUUID } from 'node:crypto';

import { type Clock, isoNow, untilAborted } from '../clock';
import type { KeySlot, ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import type { Logger } from '../logging';
import type { Telemetry } from '../telemetry';
import { errorCode, safeMessage } from './errors';
import type { RotationOutcome } from './KeyRotator';
import type { RotationEvent, RotationEventSink } from './RotationEventSink';
import {
  abandonedStep,
  type ActiveRotation,
  type JournalEntry,
  type RotationFailure,
  type RotationJournal,
  type RotationState,
  type RotationStepName,
} from './RotationJournal';
import type { RunBudget } from './RunBudget';

/** Dependencies of {@link RotationRecorder}. */
export interface RotationRecorderOptions {
  journal: RotationJournal;
  events: RotationEventSink;
  telemetry: Telemetry;
  clock: Clock;
  logger: Logger;
  /** Ids of the events journaled before they are sent. @default crypto.randomUUID */
  newId?: () => string;
}

/** Where a run's journal writes go: its `HeldLease`, which fences each one with the lease. */
export interface JournalWriter {
  write(entry: JournalEntry): Promise<void>;
}

/**
 * Everything a rotation leaves behind besides keys and secrets: the journal state row and step
 * records, telemetry (RotationStarted/Succeeded/Failed, duration metric), logs and CloudEvents.
 * Only names, ids, slots, versions and error codes are written — never a key. Each method writes the
 * journal through the run's `writer`, one atomic write per outcome. A finish journals its `KeyRotated`
 * event in that same write and clears it once sent ({@link sendUnsent}), so a run that stops in between
 * cannot lose it.
 */
export class RotationRecorder {
  constructor(private readonly options: RotationRecorderOptions) {}

  /** A new rotation was planned. */
  async started(
    writer: JournalWriter,
    endpoint: ManagedEndpoint,
    state: RotationState,
    active: ActiveRotation,
  ): Promise<RotationState> {
    const next = await this.step(writer, state, active);
    this.options.telemetry.trackEvent('RotationStarted', this.props(endpoint, active));
    this.options.logger.info('rotate => started', this.props(endpoint, active));
    return next;
  }

  /**
   * An onboarding is about to write the endpoint's first Key Vault version from Primary, tagged with
   * `onboardingId`: journaled before that write, so a run that finds the version after this one stopped
   * knows it for the onboarding's and goes on to rotate Secondary (`RotationState.onboardingId`).
   * @returns the state as journaled now
   */
  async onboarding(
    writer: JournalWriter,
    endpoint: ManagedEndpoint,
    state: RotationState,
    onboardingId: string,
  ): Promise<RotationState> {
    const next: RotationState = { ...state, onboardingId };
    await writer.write({
      state: next,
      step: { rotationId: onboardingId, step: 'onboarding', at: this.now(), slot: 'Primary' },
    });
    this.options.logger.info('rotate => onboarding, Primary to Key Vault first', {
      endpointId: endpoint.id,
      rotationId: onboardingId,
    });
    return next;
  }

  /** A step completed. */
  async step(writer: JournalWriter, state: RotationState, active: ActiveRotation): Promise<RotationState> {
    const next: RotationState = { ...state, active };
    await writer.write({
      state: next,
      step: { rotationId: active.rotationId, step: active.step, at: this.now(), slot: active.slot },
    });
    return next;
  }

  /**
   * An operator's `POST …/rotate` opened the test step's window again (`KeyRotator`): journaled with its
   * start (`active.testWindowFrom`) before the first attempt, so a run resumed after a cut or a crash tests
   * for what is left of this window rather than the one that had passed.
   * @param requestedAt - the request's time, as its job carries it
   * @returns the state as journaled now
   */
  async testWindowReopened(
    writer: JournalWriter,
    endpoint: ManagedEndpoint,
    state: RotationState,
    active: ActiveRotation,
    requestedAt: string,
  ): Promise<RotationState> {
    const next: RotationState = { ...state, active };
    const { rotationId, slot, step, testWindowFrom } = active;
    await writer.write({
      state: next,
      step: {
        rotationId,
        step,
        at: this.now(),
        slot,
        detail: `test window reopened from ${testWindowFrom ?? 'now'} by POST …/rotate requested at ${requestedAt.slice(0, 64)}`,
      },
    });
    this.options.logger.info("rotate => test window reopened at an operator's request", {
      endpointId: endpoint.id,
      rotationId,
      slot,
      testWindowFrom: testWindowFrom ?? '',
      requestedAt: requestedAt.slice(0, 64),
    });
    return next;
  }

  /**
   * A rotation refused as unsafe is dropped at an operator's request (`KeyRotator`), so that the run
   * plans a new one; its step record says so, and its last error stays until a rotation finishes.
   * @returns the state as journaled now, with no rotation in progress
   */
  async abandoned(
    writer: JournalWriter,
    endpoint: ManagedEndpoint,
    state: RotationState,
  ): Promise<RotationState> {
    const { active, ...rest } = state;
    if (!active) return state;
    const { rotationId, slot, step } = active;
    await writer.write({ state: rest, step: abandonedStep(active, this.now(), `refused after ${step}`) });
    this.options.logger.warn('rotate => refused rotation abandoned, planning a new one', {
      endpointId: endpoint.id,
      rotationId,
      slot,
      step,
    });
    return rest;
  }

  /** The new version is current. */
  async finished(
    writer: JournalWriter,
    endpoint: ManagedEndpoint,
    active: ActiveRotation,
    secretVersion: string,
    resumed: boolean,
    signal?: AbortSignal,
  ): Promise<RotationOutcome> {
    const { telemetry, logger } = this.options;
    const at = this.now();
    const { rotationId, slot, reason } = active;
    const state = this.finishedState(endpoint, { rotationId, slot, secretVersion, reason }, at);
    await writer.write({
      state,
      step: { rotationId, step: 'finished', at, slot, detail: `version ${secretVersion}` },
    });
    const props = { ...this.props(endpoint, active), secretVersion, resumed };
    telemetry.trackEvent('RotationSucceeded', props);
    const startedAt = Date.parse(active.startedAt);
    if (!Number.isNaN(startedAt))
      telemetry.trackMetric('RotationDurationMs', this.options.clock.now() - startedAt, {
        endpointId: endpoint.id,
      });
    logger.info('rotate => finished', props);
    await this.sendUnsent(writer, state, signal);
    return { status: 'rotated', endpointId: endpoint.id, rotationId, slot, secretVersion, resumed };
  }

  /** Drift was repaired from our own pending secret. */
  async repaired(
    writer: JournalWriter,
    endpoint: ManagedEndpoint,
    rotationId: string,
    slot: KeySlot,
    secretVersion: string,
    signal?: AbortSignal,
  ): Promise<RotationOutcome> {
    const at = this.now();
    const state = this.finishedState(endpoint, { rotationId, slot, secretVersion, reason: 'drift' }, at);
    await writer.write({
      state,
      step: { rotationId, step: 'finished', at, slot, detail: 'repaired drift from the pending secret' },
    });
    this.options.logger.warn('rotate => drift repaired from pending secret', {
      endpointId: endpoint.id,
      rotationId,
      slot,
      secretVersion,
    });
    await this.sendUnsent(writer, state, signal);
    return { status: 'repaired', endpointId: endpoint.id, rotationId, slot, secretVersion, resumed: true };
  }

  /**
   * Hands the journal's unsent event to the sink, then clears it from the journal. A run calls this
   * after its own finish, and first thing under its lease for an event a stopped run left behind. A
   * clear that fails only means the next run sends the event again under the same id, so it is logged,
   * not thrown: the outcome it reports stands.
   * @param signal - the run's time budget. A send it cuts (or that it finds spent) leaves the event in the
   *   journal, uncleared, for the next run: the rotation it announces is done either way, and its outcome
   *   stands; the consumers' old key stays valid until the next rotation.
   * @returns the state as journaled now
   */
  async sendUnsent(
    writer: JournalWriter,
    state: RotationState,
    signal?: AbortSignal,
  ): Promise<RotationState> {
    const { unsentEvent, ...sent } = state;
    if (!unsentEvent) return state;
    try {
      // Not begun once the budget is spent; raced, so the run stops on time even with a sink that heeds the
      // signal late, or not at all.
      signal?.throwIfAborted();
      await untilAborted(this.publish(unsentEvent.event, unsentEvent.eventId, signal), signal);
    } catch (error) {
      if (!signal?.aborted) throw error;
      this.options.logger.warn('publish => cut, the run is out of time; the next run sends it', {
        endpointId: unsentEvent.event.endpointId,
        type: unsentEvent.event.type,
        eventId: unsentEvent.eventId,
      });
      return state;
    }
    try {
      await writer.write({ state: sent });
      return sent;
    } catch (error) {
      this.options.logger.warn(
        'publish => event handed on, journal not cleared; the next run sends it again',
        {
          endpointId: unsentEvent.event.endpointId,
          type: unsentEvent.event.type,
          eventId: unsentEvent.eventId,
          error: errorCode(error),
        },
      );
      return state;
    }
  }

  /**
   * Key Vault matches neither key and nothing safe can be done.
   * @param budget - the run's: its event send is bounded as the run stops (`RunBudget.stopSend`)
   */
  async drift(
    writer: JournalWriter,
    endpoint: ManagedEndpoint,
    state: RotationState,
    detail: string,
    budget?: Pick<RunBudget, 'stopSend'>,
  ): Promise<void> {
    const at = this.now();
    await writer.write({ state: { ...state, drift: { detected: true, at, detail } } });
    this.options.telemetry.trackEvent('DriftDetected', {
      endpointId: endpoint.id,
      secretName: endpoint.secretName,
    });
    this.options.logger.error('rotate => drift detected, rotation refused', {
      endpointId: endpoint.id,
      detail,
    });
    await this.publishHeldIfCut(
      {
        type: 'DriftDetected',
        endpointId: endpoint.id,
        secretName: endpoint.secretName,
        reason: detail,
        time: at,
      },
      budget,
    );
  }

  /**
   * The run failed; the journal write is best effort (the journal itself may be what is down, or the
   * lease may have passed to another run meanwhile, whose journal it then is). The failure is logged,
   * counted and published either way.
   * @param budget - the run's: the event send is bounded as the run stops (`RunBudget.stopSend`), in the stop
   *   margin when the budget ran out
   */
  async failed(
    writer: JournalWriter,
    endpoint: ManagedEndpoint,
    error: unknown,
    budget?: Pick<RunBudget, 'stopSend'>,
  ): Promise<void> {
    const { journal, telemetry, logger } = this.options;
    const at = this.now();
    const code = errorCode(error);
    const message = safeMessage(error);
    let step: RotationStepName = 'plan';
    let rotationId: string | undefined;
    try {
      const { state } = await journal.getState(endpoint.id);
      step = nextStep(state.active);
      rotationId = state.active?.rotationId;
      await writer.write({
        state: failedState(state, { code, message, step, at, ...(rotationId ? { rotationId } : {}) }),
        ...(rotationId ? { step: { rotationId, step: 'failed', at, detail: `${step}: ${code}` } } : {}),
      });
    } catch {
      // The failure is still logged, counted and published below.
    }
    const props = { endpointId: endpoint.id, rotationId, step, code };
    telemetry.trackEvent('RotationFailed', props);
    logger.error('rotate => failed', { ...props, error: message });
    await this.publishHeldIfCut(
      {
        type: 'RotationFailed',
        endpointId: endpoint.id,
        secretName: endpoint.secretName,
        step,
        reason: code,
        time: at,
        ...(rotationId ? { rotationId } : {}),
      },
      budget,
    );
  }

  /**
   * A job gave up on its last delivery and goes to the poison queue, where nobody reads it by default: the
   * state row says so, naming the rotation it was in (if any), so the status API shows why. Failures
   * are thrown: `RotationJobHandler` logs the poison message whether or not the journal took it.
   */
  async poisoned(
    writer: JournalWriter,
    endpointId: string,
    error: unknown,
    dequeueCount: number,
  ): Promise<void> {
    const at = this.now();
    const code = errorCode(error);
    const message = `Gave up after ${dequeueCount} deliveries; the job goes to the poison queue. Last error: ${safeMessage(error)}`;
    const { state } = await this.options.journal.getState(endpointId);
    const rotationId = state.active?.rotationId ?? state.lastError?.rotationId ?? 'none';
    await writer.write({
      state: failedState(state, {
        code,
        message,
        step: 'poison',
        at,
        ...(rotationId !== 'none' ? { rotationId } : {}),
      }),
      step: { rotationId, step: 'poison', at, detail: `${code} after ${dequeueCount} deliveries` },
    });
  }

  /** The state row of a finished rotation, its `KeyRotated` event journaled with it as unsent. */
  private finishedState(
    endpoint: ManagedEndpoint,
    done: { rotationId: string; slot: KeySlot; secretVersion: string; reason: string },
    at: string,
  ): RotationState {
    const { rotationId, slot, secretVersion, reason } = done;
    const event: RotationEvent = {
      type: 'KeyRotated',
      endpointId: endpoint.id,
      secretName: endpoint.secretName,
      slot,
      secretVersion,
      rotationId,
      reason,
      time: at,
    };
    return {
      lastOutcome: 'succeeded',
      lastOutcomeAt: at,
      lastRotationId: rotationId,
      lastRotatedAt: at,
      lastSlot: slot,
      unsentEvent: { eventId: (this.options.newId ?? randomUUID)(), event },
    };
  }

  /** Logs and swallows a failed publish; one its `signal` cut rejects, for {@link sendUnsent} to keep. */
  private async publish(event: RotationEvent, eventId?: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.options.events.publish(event, eventId, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      this.options.logger.warn('publish => event not sent', { type: event.type, error: errorCode(error) });
    }
  }

  /**
   * Publishes an event nothing else keeps (`RotationFailed`, `DriftDetected`) within the bounds of a send as
   * the run stops: Event Grid not answering by `send`, the sink holds the event for a retry, under the id
   * it was sent with. A sink not settled by `settled` is left to it, so that the run still stops in time,
   * logged at warn: whether it held the event is not known. Logs and swallows failures, as {@link publish}.
   */
  private async publishHeldIfCut(event: RotationEvent, budget?: Pick<RunBudget, 'stopSend'>): Promise<void> {
    if (!budget) return this.publish(event);
    const { send, settled } = budget.stopSend();
    try {
      await untilAborted(this.options.events.publish(event, undefined, send, 'hold'), settled);
    } catch (error) {
      const props = { type: event.type, endpointId: event.endpointId, error: errorCode(error) };
      if (settled.aborted)
        this.options.logger.warn('publish => not settled in time, the run stops without it', props);
      else this.options.logger.warn('publish => event not sent', props);
    }
  }

  private props(endpoint: ManagedEndpoint, active: ActiveRotation): Record<string, string> {
    return {
      endpointId: endpoint.id,
      rotationId: active.rotationId,
      slot: active.slot,
      reason: active.reason,
      step: active.step,
    };
  }

  private now(): string {
    return isoNow(this.options.clock);
  }
}

/** The state row of a failed run: the row as it was, with the failure as its last outcome and error. */
function failedState(state: RotationState, failure: RotationFailure): RotationState {
  return { ...state, lastOutcome: 'failed', lastOutcomeAt: failure.at, lastError: failure };
}

/**
 * The step a rotation is in when its journal shows `step` completed; `set` for a step a newer version
 * journaled, where `KeyRotator` resumes such a rotation.
 */
export function nextStep(active: ActiveRotation | undefined): RotationStepName {
  if (!active) return 'plan';
  const next: Partial<Record<string, RotationStepName>> = {
    started: 'create',
    created: 'set',
    set: 'test',
    tested: 'finish',
  };
  return next[active.step] ?? 'set';
}
