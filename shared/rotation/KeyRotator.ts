import { randomUUID } from 'node:crypto';

import { type Clock, isoNow, type Repeat } from '../clock';
import type { EndpointRegistry } from '../endpoints/EndpointRegistry';
import { type KeySlot, type ManagedEndpoint, unknownHere } from '../endpoints/ManagedEndpoint';
import { DependencyUnavailableError } from '../errors';
import type { Logger } from '../logging';
import type { EndpointKeyClient } from './EndpointKeyClient';
import {
  ArmThrottledError,
  AuthModeNotKeyError,
  DriftDetectedError,
  EndpointBusyError,
  EndpointRecordUnreadableError,
  errorCode,
  LeaseLostError,
  requireKeyAuthAt,
  RotationOutOfTimeError,
  UNSAFE_REGENERATION,
} from './errors';
import { HeldLease } from './HeldLease';
import type { RotationJob } from './RotationJob';
import {
  type ActiveRotation,
  COMPLETED_STEPS,
  isRotationRunning,
  type RotationJournal,
  type RotationState,
  type RotationStepName,
} from './RotationJournal';
import { type RotationPlan, RotationPlanner } from './RotationPlanner';
import { nextStep, RotationRecorder } from './RotationRecorder';
import type { RotationSteps } from './RotationSteps';
import { FUNCTION_TIMEOUT_MS, RunBudget, STOP_MARGIN_MS } from './RunBudget';
import type { SecretStore } from './SecretStore';

/**
 * What one run achieved. Failures are thrown (after being journaled); `RotationJobHandler` decides
 * which of them the queue retries (`RotationJobOutcome`).
 */
export type RotationOutcome =
  | {
      readonly status: 'rotated' | 'repaired';
      readonly endpointId: string;
      readonly rotationId: string;
      readonly slot: KeySlot;
      readonly secretVersion: string;
      readonly resumed: boolean;
    }
  | {
      readonly status: 'skipped';
      readonly endpointId: string;
      readonly reason:
        | 'notRegistered'
        | 'unreadable'
        | 'disabled'
        | 'retired'
        | 'inProgress'
        | 'notDue'
        | 'inGrace'
        | 'notKnownHere'
        | 'declaredInFile';
      readonly detail?: string;
    };

/** Dependencies of {@link KeyRotator}. */
export interface KeyRotatorOptions {
  registry: EndpointRegistry;
  secrets: SecretStore;
  keys: EndpointKeyClient;
  journal: RotationJournal;
  steps: RotationSteps;
  recorder: RotationRecorder;
  clock: Clock;
  /**
   * Drives the lease renewals during the set step ({@link HeldLease.keptAliveWhile}) and ends each run's
   * time budget.
   */
  repeat: Repeat;
  logger: Logger;
  leaseSeconds: number;
  /**
   * The host's function timeout; a run may take it less {@link STOP_MARGIN_MS} ({@link RunBudget}).
   * @default {@link FUNCTION_TIMEOUT_MS} (host.json's)
   */
  functionTimeoutMs?: number;
  /** @default crypto.randomUUID */
  newId?: () => string;
}

/**
 * Runs the rotation protocol for one endpoint: lease → plan (or resume from the journal) → create →
 * set → test → finish, journaling each step so that a crash anywhere converges on the next run. The
 * finish journals its `KeyRotated` event with it, and a run first sends any such event a stopped run
 * left unsent.
 * Every journal write renews the lease in the same atomic operation, so only the lease holder's writes
 * land ({@link HeldLease}).
 * @example const outcome = await rotator.run({ endpointId: 'demo-key', reason: 'manual', requestedAt })
 */
export class KeyRotator {
  private readonly planner: RotationPlanner;
  private readonly newId: () => string;

  constructor(private readonly options: KeyRotatorOptions) {
    this.planner = new RotationPlanner({ secrets: options.secrets, keys: options.keys });
    this.newId = options.newId ?? randomUUID;
  }

  /**
   * Runs (or resumes) one rotation. Throws when the rotation failed; the failure is journaled first. A run
   * that spends its time budget stops with `RotationOutOfTimeError` rather than run on until the host kills it.
   */
  async run(job: RotationJob): Promise<RotationOutcome> {
    const budget = new RunBudget(
      this.options.repeat,
      (this.options.functionTimeoutMs ?? FUNCTION_TIMEOUT_MS) - STOP_MARGIN_MS,
    );
    try {
      return await this.runWithin(job, budget);
    } finally {
      budget.end();
    }
  }

  private async runWithin(job: RotationJob, budget: RunBudget): Promise<RotationOutcome> {
    const { journal, leaseSeconds } = this.options;
    const endpoint = await this.registered(job.endpointId);
    const skip = (
      reason: Extract<RotationOutcome, { status: 'skipped' }>['reason'],
      detail?: string,
    ): RotationOutcome => ({
      status: 'skipped',
      endpointId: job.endpointId,
      reason,
      ...(detail ? { detail } : {}),
    });
    if (endpoint instanceof EndpointRecordUnreadableError) return skip('unreadable', endpoint.message);
    if (!endpoint) return skip('notRegistered');
    if (endpoint.retiredAt) return skip('retired');
    // A kind or auth mode a newer version registered (a rolling deployment) is no cause to act: this version
    // has no key client for it, or cannot tell whether it has keys. Nothing is journaled either: a failure
    // recorded here would hold the newer version's timer off the endpoint (RotationJobHandler puts the job
    // back for an instance that knows it).
    const unknown = unknownHere(endpoint);
    if (unknown) {
      const value = String(endpoint[unknown]).slice(0, 64);
      this.options.logger.warn(`rotate => endpoint of a ${unknown} this version does not know, skipped`, {
        endpointId: endpoint.id,
        [unknown]: value,
      });
      return skip('notKnownHere', `${unknown} ${value}`);
    }
    // A row registered before ENDPOINTS_FILE declared its Azure ML endpoint: the entry rotates those keys, and
    // this run would regenerate the key the entry just stored; or its Key Vault secret, for another endpoint:
    // this run would store its keys over the entry's. Nothing journaled: deleting the row (or renaming its
    // secret) ends it.
    const clash = await this.options.registry.fileEntryClash(endpoint);
    if (clash !== undefined) {
      this.options.logger.warn('rotate => endpoint declared in ENDPOINTS_FILE too, skipped, DELETE it', {
        endpointId: endpoint.id,
        alsoRegisteredAs: clash.entry,
      });
      return skip(
        'declaredInFile',
        clash.shares === 'endpoint'
          ? `its Azure ML endpoint is declared in ENDPOINTS_FILE as ${clash.entry}`
          : `its Key Vault secret is declared in ENDPOINTS_FILE for ${clash.entry}`,
      );
    }
    // A disabled endpoint is not rotated, but a rotation it finished before it was disabled still has to
    // announce its new key: its consumers hold the old one. (A retired endpoint is gone from Azure, and
    // its keys with it.)
    if (!endpoint.enabled && !(await journal.getState(endpoint.id)).state.unsentEvent)
      return skip('disabled');
    const held = await HeldLease.acquire(journal, endpoint.id, this.newId(), leaseSeconds * 1000);
    if (!held) {
      // A rotation run at work carries this job's rotation out. A drift check holds the lease only for a
      // moment, and dropping the job then would lose a "rotate now" (which the admin API accepts during a
      // check) or an expiry event's job: nothing enqueues those again. The queue retries it instead.
      if (!isRotationRunning((await journal.getState(endpoint.id)).lease))
        throw new EndpointBusyError(endpoint.id);
      return skip('inProgress');
    }
    return held.releaseAfter(() => this.underLease(endpoint, job, held, budget));
  }

  /**
   * The job's endpoint, or why its row cannot be read. That waits for a person (operations.md), so the
   * job ends here, skipped with a warning, rather than fail through the queue's retries into the poison
   * queue; nothing is journaled, which would hold the timer off the endpoint once it is mended.
   */
  private async registered(id: string): Promise<ManagedEndpoint | EndpointRecordUnreadableError | undefined> {
    try {
      return await this.options.registry.get(id);
    } catch (error) {
      if (!(error instanceof EndpointRecordUnreadableError)) throw error;
      this.options.logger.warn('rotate => endpoint row unreadable, skipped until a person mends it', {
        endpointId: id,
        code: error.code,
        why: error.why,
      });
      return error;
    }
  }

  private async underLease(
    endpoint: ManagedEndpoint,
    job: RotationJob,
    held: HeldLease,
    budget: RunBudget,
  ): Promise<RotationOutcome> {
    const { journal, recorder } = this.options;
    let { state } = await journal.getState(endpoint.id);
    if (refusedAndRequestedAgain(state, job)) state = await recorder.abandoned(held, endpoint, state);
    const active = state.active;
    try {
      // Under the budget: a send that never answers would otherwise hold the run past it. Cut, the run stops
      // out of time and the event stays journaled for the next delivery.
      state = await this.inBudget(
        budget,
        endpoint,
        () => nextStep(active),
        () => this.sendLeftBehindEvent(endpoint, state, held, budget.signal),
      );
      // That event is all a disabled endpoint's run is for.
      if (!endpoint.enabled) return { status: 'skipped', endpointId: endpoint.id, reason: 'disabled' };
      // Read under the budget: an ARM GET that stops answering would otherwise hold the run past it.
      await this.inBudget(
        budget,
        endpoint,
        () => nextStep(active),
        () => this.requireKeyAuth(endpoint, budget),
      );
      if (!active) return await this.start(endpoint, job, state, held, budget);
      return await this.drive(endpoint, job, state, active, true, held, budget);
    } catch (error) {
      await this.reportStopped(endpoint, error, held, budget);
      throw error;
    }
  }

  /** Sends the `KeyRotated` event a stopped run left unsent in the journal, if any. */
  private async sendLeftBehindEvent(
    endpoint: ManagedEndpoint,
    state: RotationState,
    held: HeldLease,
    signal: AbortSignal,
  ): Promise<RotationState> {
    if (!state.unsentEvent) return state;
    this.options.logger.info('rotate => sending the event a stopped run left in the journal', {
      endpointId: endpoint.id,
      type: state.unsentEvent.event.type,
      eventId: state.unsentEvent.eventId,
    });
    return this.options.recorder.sendUnsent(held, state, signal);
  }

  /** Both the registration and the endpoint itself must say `Key`: a token endpoint has no keys to rotate. */
  private async requireKeyAuth(endpoint: ManagedEndpoint, budget: RunBudget): Promise<void> {
    if (endpoint.authMode !== 'Key') throw new AuthModeNotKeyError(endpoint.id, endpoint.authMode);
    const described = await this.options.keys.describe(endpoint, budget.signal);
    requireKeyAuthAt(endpoint.id, described.authMode);
  }

  /**
   * Records why a run stopped. ARM throttling postpones a rotation, it does not fail it: no RotationFailed
   * record or event, and the journal keeps the step reached, so the deferred job resumes there
   * (RotationJobHandler). A run that lost its lease leaves the journal to the run that took it.
   */
  private async reportStopped(
    endpoint: ManagedEndpoint,
    error: unknown,
    held: HeldLease,
    budget: RunBudget,
  ): Promise<void> {
    const { logger, recorder } = this.options;
    if (error instanceof ArmThrottledError)
      logger.info('rotate => deferred, ARM is throttling writes', {
        endpointId: endpoint.id,
        retryAfterSeconds: error.retryAfterSeconds ?? 0,
      });
    else if (error instanceof LeaseLostError)
      logger.warn('rotate => lease lost to another run, which carries on', { endpointId: endpoint.id });
    // Its RotationFailed send has a short bound of its own: this may be the stop margin already.
    else await recorder.failed(held, endpoint, error, budget);
  }

  /** Plans a new rotation and drives it; onboarding and repair happen here. */
  private async start(
    endpoint: ManagedEndpoint,
    job: RotationJob,
    state: RotationState,
    held: HeldLease,
    budget: RunBudget,
  ): Promise<RotationOutcome> {
    const { recorder, clock, steps } = this.options;
    // The plan's reads, an onboarding's write and a repair draw from the budget, and are handed its signal:
    // with their retries (and the SDKs' under them, 30 s a try) each may take minutes, more than the minute
    // STOP_MARGIN_MS keeps. Cut, they stop in step plan, as a crash leaves it: nothing journaled a rotation.
    const inBudget = <T>(work: () => Promise<T>): Promise<T> =>
      this.inBudget(budget, endpoint, () => 'plan', work);
    const planned = (asked: RotationJob): Promise<RotationPlan> =>
      inBudget(() => this.planner.plan(endpoint, asked, state, clock.now(), budget.signal));
    let plan = await planned(job);
    if (plan.kind === 'onboard') {
      // No secret yet: publish the key clients can use today (Primary), then rotate the other slot. The
      // onboarding is journaled before its write: a run cut or dead after the write leaves a fresh version
      // that would otherwise read as a rotation, and make every job "not due" for a whole period.
      const onboardingId = this.newId();
      state = await recorder.onboarding(held, endpoint, state, onboardingId);
      const { primaryKey } = plan.keys;
      await inBudget(() => steps.onboard(endpoint, onboardingId, primaryKey, budget.signal));
      // The planner knows the version just written for the journaled onboarding's, and goes on to the
      // rotation, as a later run does when this one stops here.
      plan = await planned(job);
    }
    switch (plan.kind) {
      case 'skip':
        if (plan.rotatedAt) await this.journalRotatedAt(endpoint, state, plan.rotatedAt, held);
        return { status: 'skipped', endpointId: endpoint.id, reason: plan.reason, detail: plan.detail };
      case 'drift':
        await recorder.drift(held, endpoint, state, plan.detail, budget);
        throw new DriftDetectedError(endpoint.id, endpoint.secretName);
      case 'repair': {
        // Under the budget like every finish: a repair cut midway is left as a crash would leave it, and the
        // next delivery plans the repair again (or, if Key Vault took the value, finds nothing to repair).
        const ctx = {
          endpoint,
          rotationId: plan.rotationId,
          slot: plan.slot,
          resumed: true,
          signal: budget.signal,
        };
        const version = await inBudget(() => steps.finish(ctx));
        return recorder.repaired(held, endpoint, plan.rotationId, plan.slot, version, budget.signal);
      }
      case 'onboard':
        // Only possible if the secret vanished between the write and the re-read: a retry, not drift (which
        // would wait a day for a person).
        throw new DependencyUnavailableError(
          'keyVault',
          `Secret ${endpoint.secretName} was written for onboarding but could not be read back; the next run tries again.`,
        );
      case 'rotate': {
        const active: ActiveRotation = {
          rotationId: this.newId(),
          slot: plan.slot,
          step: 'started',
          reason: job.reason,
          startedAt: isoNow(clock),
          // The first rotation after an onboarding, whether this run onboarded or a run that stopped after the
          // write did (a finish drops the id).
          ...(state.onboardingId !== undefined ? { onboarding: true } : {}),
        };
        const started = await recorder.started(held, endpoint, state, active);
        return this.drive(endpoint, job, started, active, false, held, budget);
      }
    }
  }

  /**
   * A job found the endpoint not due by Key Vault's `rotatedAt` tag alone: the journal does not know that
   * rotation (its table was recreated, or the endpoint registered again). The timer reads the journal
   * only, so it would queue a job on every tick that is skipped here, until Key Vault's due time; the
   * journal takes the tag's time as the last rotation, and both judge "due" alike. The status, which reads
   * both, shows the same. Best effort: the skip stands either way.
   */
  private async journalRotatedAt(
    endpoint: ManagedEndpoint,
    state: RotationState,
    rotatedAt: string,
    held: HeldLease,
  ): Promise<void> {
    try {
      await held.write({ state: { ...state, lastRotatedAt: rotatedAt } });
    } catch (error) {
      this.options.logger.warn('rotate => not due by Key Vault, journal not updated', {
        endpointId: endpoint.id,
        error: errorCode(error),
      });
    }
  }

  /**
   * Walks the remaining steps from the journaled one. Each step draws from the run's time budget: none is
   * begun once it is spent, and the one it runs out in stops (its calls are given up through the budget's
   * signal), with `RotationOutOfTimeError` naming that step. The journal then shows the last step
   * completed, as after a crash, and the next delivery resumes there.
   */
  private async drive(
    endpoint: ManagedEndpoint,
    job: RotationJob,
    state: RotationState,
    active: ActiveRotation,
    resumed: boolean,
    held: HeldLease,
    budget: RunBudget,
  ): Promise<RotationOutcome> {
    const { steps, recorder } = this.options;
    const ctx = {
      endpoint,
      rotationId: active.rotationId,
      slot: active.slot,
      resumed,
      signal: budget.signal,
    };
    let current = active;
    const advance = async (step: ActiveRotation['step'], setAt?: string): Promise<void> => {
      current = { ...current, step, ...(setAt ? { setAt } : {}) };
      state = await recorder.step(held, state, current);
    };
    const inBudget = <T>(work: () => Promise<T>): Promise<T> =>
      this.inBudget(budget, endpoint, () => nextStep(current), work);
    // Each journaled advance renews the lease before the next step; only the first step needs its own.
    // Within a step: set renews on a timer (its regenerate cannot be paused), test between attempts.
    await held.renew();
    // A step this version has no name for was journaled by a newer one (a rolling deployment, or a
    // rollback). Walking past every known step would publish the pending value unset and untested; set,
    // test and finish can each be repeated and check by value, so the run goes on from set instead.
    if (!COMPLETED_STEPS.includes(current.step)) {
      this.options.logger.warn('rotate => journaled step this version does not know, resuming at set', {
        endpointId: endpoint.id,
        rotationId: current.rotationId,
        step: String(current.step),
      });
      current = { ...current, step: 'created' };
    }
    // A run stopped after set, and the slot was regenerated outside the app since (portal, CLI): testing
    // the pending value would fail on every run, and finishing would publish a key the endpoint refuses.
    // The set step puts the pending value back (never into the slot Key Vault holds: assertNotCurrent).
    if (
      resumed &&
      (current.step === 'set' || current.step === 'tested') &&
      (await inBudget(() => steps.slotLost(ctx)))
    ) {
      this.options.logger.warn('rotate => the slot no longer holds the pending value, setting it again', {
        endpointId: endpoint.id,
        rotationId: current.rotationId,
        slot: current.slot,
        step: current.step,
      });
      current = { ...current, step: 'created' };
    }
    if (current.step === 'started') {
      await inBudget(() => steps.create(ctx));
      await advance('created');
    }
    if (current.step === 'created') {
      await held.keptAliveWhile(() => inBudget(() => steps.set(ctx)), this.options.repeat);
      // Journaled with the step, so a run that resumes the test step knows how long the key has had to
      // propagate: the test window runs from here, not from each run's start (RotationSteps.test).
      await advance('set', isoNow(this.options.clock));
    }
    if (current.step === 'set') {
      if (resumed && retestRequested(current, job)) {
        // Journaled before the first attempt, so a run that resumes after a cut or a crash tests for what is
        // left of this window, and a redelivery of this job (requested before it opened) reopens nothing.
        const opensAt = Math.max(this.options.clock.now(), Date.parse(job.requestedAt));
        current = { ...current, testWindowFrom: new Date(opensAt).toISOString() };
        state = await recorder.testWindowReopened(held, endpoint, state, current, job.requestedAt);
      }
      const testWindowFrom = testWindowOpenedAt(current);
      const testCtx = testWindowFrom === undefined ? ctx : { ...ctx, testWindowFrom };
      await inBudget(() => steps.test(testCtx, () => held.renew()));
      await advance('tested');
    }
    const version = await inBudget(() => steps.finish(ctx));
    // Not under inBudget: the rotation is done, and a send the budget cuts is left in the journal for the
    // next run (the timer queues one for it), the outcome staying the rotation's.
    return recorder.finished(held, endpoint, current, version, resumed, budget.signal);
  }

  /**
   * `work`, begun only while the budget lasts and given up once it is spent (its calls, handed the budget's
   * signal, stop too), as `RotationOutOfTimeError` naming the step `step()` says the run was in.
   */
  private async inBudget<T>(
    budget: RunBudget,
    endpoint: ManagedEndpoint,
    step: () => RotationStepName,
    work: () => Promise<T>,
  ): Promise<T> {
    try {
      if (budget.spent) throw budget.signal.reason;
      return await budget.race(work());
    } catch (error) {
      if (!budget.spent) throw error;
      throw new RotationOutOfTimeError(endpoint.id, step(), budget.ms, { cause: error });
    }
  }
}

/**
 * An operator's `POST …/rotate` asked after the test step's window opened: typically after
 * `NEW_KEY_NOT_ACCEPTED`, once the scoring deployment was mended. The key has been in the slot all along;
 * what the operator expects is a whole window for the mended deployment to accept it, not the last try a
 * resumed run gets once the window has passed. Redeliveries of that job, of the job that started the
 * rotation, and the timer's jobs keep the window they find journaled: requested before it opened, or not
 * by an operator. A window of unknown start (an older version journaled the set step) is a whole one
 * already.
 */
function retestRequested(active: ActiveRotation, job: RotationJob): boolean {
  const opened = testWindowOpenedAt(active);
  return job.reason === 'manual' && opened !== undefined && Date.parse(job.requestedAt) > opened;
}

/**
 * Epoch ms the test step's window opened: the later of the set step's end and an operator's reopening. A set
 * step done again (the slot was regenerated outside the app) starts its own window, also when it keeps a
 * `testWindowFrom` from before (every journal write carries the fields it read, an older version's too).
 * Undefined when neither is known: a version from before `setAt` journaled the set step.
 */
function testWindowOpenedAt(active: ActiveRotation): number | undefined {
  const setAt = Date.parse(active.setAt ?? '');
  const reopenedAt = Date.parse(active.testWindowFrom ?? '');
  if (Number.isNaN(reopenedAt)) return Number.isNaN(setAt) ? undefined : setAt;
  return Number.isNaN(setAt) ? reopenedAt : Math.max(setAt, reopenedAt);
}

/**
 * A rotation refused as unsafe (its pending secret vanished or was disabled, or its target slot became
 * the current one) can never be resumed: every run would refuse it again. An operator's "rotate now"
 * after that refusal is the decision operations.md asks for: the refused rotation is dropped and a new
 * one is planned from Key Vault and the endpoint's keys, which enforce both invariants again by value.
 */
function refusedAndRequestedAgain(state: RotationState, job: RotationJob): boolean {
  return (
    job.reason === 'manual' &&
    state.active !== undefined &&
    state.lastError?.code === UNSAFE_REGENERATION &&
    state.lastError.rotationId === state.active.rotationId
  );
}
