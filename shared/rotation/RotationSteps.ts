import { abortableSleep, type Clock, type Sleep } from '../clock';
import { HOUR_MS, type KeySlot, type ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import type { Logger } from '../logging';
import { type EndpointKeyClient, keyOf } from './EndpointKeyClient';
import { KeyNotAcceptedError, KeyValueRejectedError, UnsafeRegenerationError } from './errors';
import type { ScoringProbe } from './ScoringProbe';
import {
  MANAGED_BY,
  pendingSecretName,
  SECRET_TAGS,
  type SecretStore,
  type SecretVersion,
  type SecretVersionInfo,
} from './SecretStore';
import { slotInGrace } from './slotHistory';

/** Longest wait between two test attempts, and longest one scoring call, whatever the lease. */
const MAX_TEST_ATTEMPT_MS = 10_000;

/**
 * What a test step gets when its window has (nearly) passed: a run resumed after a cut or an outage. The
 * key has had the whole window to propagate by then, so a few attempts (one at least) tell, and one
 * transient failure (a scoring call timing out) does not fail the rotation. Never more than the timeout.
 */
const LAST_TRY_MS = 30_000;

/** Dependencies of {@link RotationSteps}. */
export interface RotationStepsOptions {
  secrets: SecretStore;
  keys: EndpointKeyClient;
  probe: ScoringProbe;
  clock: Clock;
  sleep: Sleep;
  logger: Logger;
  /** Generates a new key value. */
  generateKey: () => string;
  /** How long the test step keeps trying. */
  testTimeoutMs: number;
  /**
   * How long the caller's rotation lease lasts. Between two of the test step's `keepAlive` renewals come
   * one scoring call (at most half the lease) and one backoff (at most a quarter), so the lease never
   * lapses while a key propagates (with a 10-s lease, a 10-s backoff would let another run take the
   * endpoint over and waste this one).
   */
  leaseMs: number;
}

/** The rotation being worked on. */
export interface StepContext {
  readonly endpoint: ManagedEndpoint;
  readonly rotationId: string;
  readonly slot: KeySlot;
  /** True when continuing a run that an earlier process started. */
  readonly resumed: boolean;
  /**
   * Epoch ms the test step's window opened: when the slot took the pending value (the journaled end of
   * the set step), or later, when an operator's `POST …/rotate` opened it again
   * (`ActiveRotation.testWindowFrom`). Unknown when an older version journaled the set step; the window
   * then runs from the test step's start.
   */
  readonly testWindowFrom?: number;
  /**
   * Fires when the run's time budget is spent (`RunBudget`): the key client's and Key Vault's calls give up
   * (their retries too), and so does the test step's scoring call in flight, which makes no further attempt.
   * Every step's writes can be repeated, so one given up after it landed is found by the next run.
   */
  readonly signal?: AbortSignal;
}

/**
 * The four idempotent steps of the rotation protocol (docs/architecture.md, "Rotation data flow"). Each can be repeated after a crash:
 * create reuses a pending secret carrying the rotation id, set skips the regenerate when the endpoint
 * already holds the pending value, test is read-only, finish is done when the current version carries
 * the rotation id. `onboard` writes an endpoint's first version the way finish writes every later one.
 */
export class RotationSteps {
  constructor(private readonly options: RotationStepsOptions) {}

  /** create: a pending secret tagged with the rotation id and slot holds the new value. */
  async create(ctx: StepContext): Promise<SecretVersion> {
    const existing = await this.pending(ctx);
    if (existing) return existing;
    const value = this.options.generateKey();
    const written = await this.options.secrets.setVersion(
      pendingSecretName(ctx.endpoint.secretName),
      value,
      { tags: this.tags(ctx) },
      ctx.signal,
    );
    return { ...written, value };
  }

  /**
   * set: the endpoint's slot takes the pending value. When the service cannot take a value (the key
   * client's `setsKeyValue` capability is false: v1 web services) or refuses ours (400; its accepted
   * format is undocumented), the slot is regenerated without one and the service's value becomes the
   * pending value ({@link regenerateAndRead}).
   */
  async set(ctx: StepContext): Promise<SecretVersion> {
    const { keys } = this.options;
    const pending = await this.requirePending(ctx);
    // A resumed run reads the keys (an ARM write, so only then): Key Vault may have been written by hand
    // since the plan compared values, and the regenerate may already have happened (below).
    const held = ctx.resumed ? keyOf(await keys.listKeys(ctx.endpoint, ctx.signal), ctx.slot) : undefined;
    await this.assertNotCurrent(ctx, held);
    // After a crash the regenerate may already have happened; regenerating again would be harmless for
    // the value, but costs an ARM write and breaks "one regenerate per slot per rotation".
    if (held === pending.value) return pending;
    if (keys.setsKeyValue?.(ctx.endpoint) === false) return this.regenerateAndRead(ctx);
    try {
      await keys.regenerateKey(ctx.endpoint, ctx.slot, pending.value, ctx.signal);
      return pending;
    } catch (error) {
      if (!(error instanceof KeyValueRejectedError)) throw error;
      this.options.logger.warn('set => key value rejected, letting the service generate one', {
        endpoint: ctx.endpoint.id,
        slot: ctx.slot,
      });
      return this.regenerateAndRead(ctx);
    }
  }

  /**
   * Regenerate-then-read: the service picks the value, which is read back into a new version of the
   * pending secret (same rotation id and slot tags) before the test step uses it. Crash points:
   * ```
   * regenerate(slot) ──► listKeys ──► pending := value ──► journal "set"
   *   crash here: the slot no longer equals the pending value; the resumed set step sees that and
   *   regenerates the SAME slot again (never the current one: assertNotCurrent ran first), then reads
   *                                    crash here: the slot equals the pending value; resume returns it
   * ```
   * Clients never see any of this: Key Vault's current version still names the other slot.
   */
  private async regenerateAndRead(ctx: StepContext): Promise<SecretVersion> {
    const { keys, secrets } = this.options;
    await keys.regenerateKey(ctx.endpoint, ctx.slot, undefined, ctx.signal);
    const value = keyOf(await keys.listKeys(ctx.endpoint, ctx.signal), ctx.slot);
    const written = await secrets.setVersion(
      pendingSecretName(ctx.endpoint.secretName),
      value,
      { tags: this.tags(ctx) },
      ctx.signal,
    );
    return { ...written, value };
  }

  /**
   * test: the scoring URI accepts the new key; retried with backoff while it propagates.
   * @param keepAlive - called between attempts so a long test keeps the lease
   */
  async test(ctx: StepContext, keepAlive?: () => Promise<void>): Promise<void> {
    const { keys, probe, clock, sleep, leaseMs } = this.options;
    const callTimeout = Math.min(MAX_TEST_ATTEMPT_MS, leaseMs / 2);
    const maxDelay = Math.min(MAX_TEST_ATTEMPT_MS, leaseMs / 4);
    const pending = await this.requirePending(ctx);
    const { scoringUri } = await keys.describe(ctx.endpoint, ctx.signal);
    const deadline = this.testDeadline(ctx);
    let delay = 250;
    let lastStatus: number | undefined;
    for (;;) {
      lastStatus = await probe
        .call(scoringUri, pending.value, ctx.endpoint.probe, callTimeout, ctx.signal)
        .catch(() => undefined);
      // A call the run gave up answered nothing about the key: the step stops as out of time, never as a
      // key not accepted, however far past its window.
      ctx.signal?.throwIfAborted();
      if (lastStatus !== undefined && ctx.endpoint.probe.acceptedStatuses.includes(lastStatus)) return;
      if (clock.now() >= deadline) throw new KeyNotAcceptedError(ctx.endpoint.id, lastStatus);
      // The run is out of time: it stops here, at once and with no timer left behind, and the next run
      // tests for what is left of the window.
      await abortableSleep(sleep, Math.min(delay, Math.max(0, deadline - clock.now())), ctx.signal);
      delay = Math.min(delay * 2, maxDelay);
      await keepAlive?.();
    }
  }

  /**
   * When the test step gives up: `testTimeoutMs` after its window opened (the slot took the key, or an
   * operator asked again), however many runs test it. Measured from each run's start instead, a window
   * longer than what the run's time budget leaves it after ARM's write gate was cut on every delivery, and
   * a key never accepted ended in the poison queue as ROTATION_OUT_OF_TIME rather than
   * NEW_KEY_NOT_ACCEPTED. A window that has passed still leaves {@link LAST_TRY_MS}; a window start ahead
   * of this clock (another instance's) counts as now.
   */
  private testDeadline(ctx: StepContext): number {
    const { clock, testTimeoutMs } = this.options;
    const now = clock.now();
    if (ctx.testWindowFrom === undefined) return now + testTimeoutMs;
    return Math.max(
      Math.min(ctx.testWindowFrom, now) + testTimeoutMs,
      now + Math.min(LAST_TRY_MS, testTimeoutMs),
    );
  }

  /**
   * onboard: an endpoint with no secret yet gets the key its clients can use today as the first
   * version, tagged and expiring like a finished rotation's, so that the run can rotate the other slot.
   * @param signal - the run's, as a step's {@link StepContext.signal}: the write and its retries stop when it fires
   */
  async onboard(
    endpoint: ManagedEndpoint,
    rotationId: string,
    primaryKey: string,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.publish({ endpoint, rotationId, slot: 'Primary', resumed: false, signal }, primaryKey);
  }

  /**
   * finish: the new value becomes the current version of the main secret; the pending secret is
   * disabled. A current version carrying this rotation id means the write already happened.
   */
  async finish(ctx: StepContext): Promise<string> {
    const current = await this.options.secrets.getCurrent(ctx.endpoint.secretName, ctx.signal);
    const pending = await this.pending(ctx);
    let version: string;
    if (current?.tags[SECRET_TAGS.rotationId] === ctx.rotationId) version = current.version;
    // Neither written nor pending: requirePending refuses the finish as unsafe.
    else if (!pending) return (await this.requirePending(ctx)).version;
    else version = (await this.publish(ctx, pending.value)).version;
    if (pending) await this.disableSupersededPending(ctx, pending.version);
    return version;
  }

  /**
   * Writes `value` as the current version of the endpoint's secret, tagged with the rotation and
   * expiring a rotation period plus the grace period from now (the finish step). Onboarding writes
   * its first version the same way, so `waitsForSchedule` and the status API read both alike.
   */
  private async publish(ctx: StepContext, value: string): Promise<SecretVersionInfo> {
    const { secrets, clock } = this.options;
    const { secretName, rotationPeriodHours, gracePeriodHours } = ctx.endpoint;
    const now = clock.now();
    return secrets.setVersion(
      secretName,
      value,
      {
        tags: { ...this.tags(ctx), [SECRET_TAGS.rotatedAt]: new Date(now).toISOString() },
        expiresOn: new Date(now + (rotationPeriodHours + gracePeriodHours) * HOUR_MS),
      },
      ctx.signal,
    );
  }

  /**
   * Disables every enabled pending version of this rotation, the latest last (it is what `pending()`
   * reads, so a crash midway leaves the step repeatable). Only the regenerate-then-read path leaves more
   * than one: the create step's placeholder, which never reached the service.
   */
  private async disableSupersededPending(ctx: StepContext, latest: string): Promise<void> {
    const { secrets } = this.options;
    const name = pendingSecretName(ctx.endpoint.secretName);
    const older = (await secrets.listVersions(name, ctx.signal)).filter(
      (v) => v.enabled && v.version !== latest && v.tags[SECRET_TAGS.rotationId] === ctx.rotationId,
    );
    for (const v of older.reverse()) await secrets.disableVersion(name, v.version, ctx.signal);
    await secrets.disableVersion(name, latest, ctx.signal);
  }

  /**
   * Whether the endpoint's slot holds a value other than this rotation's pending one: after the set step,
   * only someone regenerating the slot outside the app does that. False when the pending secret is gone.
   */
  async slotLost(ctx: StepContext): Promise<boolean> {
    const pending = await this.pending(ctx);
    if (!pending) return false;
    return keyOf(await this.options.keys.listKeys(ctx.endpoint, ctx.signal), ctx.slot) !== pending.value;
  }

  /** The pending version of this rotation, if one exists and is enabled. */
  async pending(ctx: StepContext): Promise<SecretVersion | undefined> {
    const pending = await this.options.secrets.getCurrent(
      pendingSecretName(ctx.endpoint.secretName),
      ctx.signal,
    );
    const ours = pending?.enabled && pending.tags[SECRET_TAGS.rotationId] === ctx.rotationId;
    return ours ? pending : undefined;
  }

  private async requirePending(ctx: StepContext): Promise<SecretVersion> {
    const pending = await this.pending(ctx);
    if (!pending)
      throw new UnsafeRegenerationError(
        `The pending secret of rotation ${ctx.rotationId} (endpoint ${ctx.endpoint.id}) is missing or disabled.`,
      );
    return pending;
  }

  /**
   * Defence in depth: re-read Key Vault right before regenerating; never touch the slot it names, nor the
   * slot whose key it holds (`slotKey`, when read: a version written by hand carries no tags). A resumed
   * run also checks grace again: versions written since the plan may have made the slot current and then
   * replaced it (a version that held it and has expired lets the run through: {@link slotInGrace}).
   */
  private async assertNotCurrent(ctx: StepContext, slotKey?: string): Promise<void> {
    const { secrets, clock } = this.options;
    const current = await secrets.getCurrent(ctx.endpoint.secretName, ctx.signal);
    if (current === undefined || current.tags[SECRET_TAGS.rotationId] === ctx.rotationId) return;
    if (current.tags[SECRET_TAGS.slot] === ctx.slot || (current.enabled && current.value === slotKey))
      throw new UnsafeRegenerationError(
        `Refusing to regenerate ${ctx.slot} of endpoint ${ctx.endpoint.id}: it is the slot in the current Key Vault version.`,
      );
    if (!ctx.resumed) return;
    const versions = await secrets.listVersions(ctx.endpoint.secretName, ctx.signal);
    const grace = slotInGrace(versions, ctx.slot, ctx.endpoint.gracePeriodHours, clock.now());
    if (grace && !grace.heldByExpired)
      throw new UnsafeRegenerationError(
        `Refusing to regenerate ${ctx.slot} of endpoint ${ctx.endpoint.id}: it stopped being current in Key Vault less than ${ctx.endpoint.gracePeriodHours} h ago.`,
      );
  }

  private tags(ctx: StepContext): Record<string, string> {
    return {
      [SECRET_TAGS.rotationId]: ctx.rotationId,
      [SECRET_TAGS.slot]: ctx.slot,
      [SECRET_TAGS.managedBy]: MANAGED_BY,
    };
  }
}
