import type { Clock, Sleep } from '../clock';
import type { KeySlot, ManagedEndpoint } from '../endpoints/ManagedEndpoint';
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
} from './SecretStore';

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
}

/** The rotation being worked on. */
export interface StepContext {
  readonly endpoint: ManagedEndpoint;
  readonly rotationId: string;
  readonly slot: KeySlot;
  /** True when continuing a run that an earlier process started. */
  readonly resumed: boolean;
}

/**
 * The four idempotent steps of the rotation protocol (DESIGN.md). Each can be repeated after a crash:
 * create reuses a pending secret carrying the rotation id, set skips the regenerate when the endpoint
 * already holds the pending value, test is read-only, finish is done when the current version carries
 * the rotation id.
 */
export class RotationSteps {
  constructor(private readonly options: RotationStepsOptions) {}

  /** create: a pending secret tagged with the rotation id and slot holds the new value. */
  async create(ctx: StepContext): Promise<SecretVersion> {
    const existing = await this.pending(ctx);
    if (existing) return existing;
    const value = this.options.generateKey();
    const written = await this.options.secrets.setVersion(pendingSecretName(ctx.endpoint.secretName), value, {
      tags: this.tags(ctx),
    });
    return { ...written, value };
  }

  /**
   * set: the endpoint's slot takes the pending value. When the service refuses our value (400; its
   * accepted format is undocumented) the slot is regenerated without one and the service's value
   * becomes the pending value.
   */
  async set(ctx: StepContext): Promise<SecretVersion> {
    const { keys, secrets } = this.options;
    const pending = await this.requirePending(ctx);
    await this.assertNotCurrent(ctx);
    // After a crash the regenerate may already have happened; regenerating again would be harmless for
    // the value, but costs an ARM write and breaks "one regenerate per slot per rotation".
    if (ctx.resumed && keyOf(await keys.listKeys(ctx.endpoint), ctx.slot) === pending.value) return pending;
    try {
      await keys.regenerateKey(ctx.endpoint, ctx.slot, pending.value);
      return pending;
    } catch (error) {
      if (!(error instanceof KeyValueRejectedError)) throw error;
      this.options.logger.warn('set => key value rejected, letting the service generate one', {
        endpoint: ctx.endpoint.id,
        slot: ctx.slot,
      });
      await keys.regenerateKey(ctx.endpoint, ctx.slot);
      const value = keyOf(await keys.listKeys(ctx.endpoint), ctx.slot);
      const written = await secrets.setVersion(pendingSecretName(ctx.endpoint.secretName), value, {
        tags: this.tags(ctx),
      });
      return { ...written, value };
    }
  }

  /**
   * test: the scoring URI accepts the new key; retried with backoff while it propagates.
   * @param keepAlive - called between attempts so a long test keeps the lease
   */
  async test(ctx: StepContext, keepAlive?: () => Promise<void>): Promise<void> {
    const { keys, probe, clock, sleep, testTimeoutMs } = this.options;
    const pending = await this.requirePending(ctx);
    const { scoringUri } = await keys.describe(ctx.endpoint);
    const deadline = clock.now() + testTimeoutMs;
    let delay = 250;
    let lastStatus: number | undefined;
    for (;;) {
      lastStatus = await probe.call(scoringUri, pending.value, ctx.endpoint.probe).catch(() => undefined);
      if (lastStatus !== undefined && ctx.endpoint.probe.acceptedStatuses.includes(lastStatus)) return;
      if (clock.now() >= deadline) throw new KeyNotAcceptedError(ctx.endpoint.id, lastStatus);
      await sleep(Math.min(delay, Math.max(0, deadline - clock.now())));
      delay = Math.min(delay * 2, 10_000);
      await keepAlive?.();
    }
  }

  /**
   * finish: the new value becomes the current version of the main secret; the pending secret is
   * disabled. A current version carrying this rotation id means the write already happened.
   */
  async finish(ctx: StepContext, periodHours: number, graceHours: number): Promise<string> {
    const { secrets, clock } = this.options;
    const name = ctx.endpoint.secretName;
    const current = await secrets.getCurrent(name);
    const pending = await this.pending(ctx);
    let version = current?.version;
    if (current?.tags[SECRET_TAGS.rotationId] !== ctx.rotationId) {
      if (!pending) return (await this.requirePending(ctx)).version;
      const now = clock.now();
      const written = await secrets.setVersion(name, pending.value, {
        tags: { ...this.tags(ctx), [SECRET_TAGS.rotatedAt]: new Date(now).toISOString() },
        expiresOn: new Date(now + (periodHours + graceHours) * 3_600_000),
      });
      version = written.version;
    }
    if (pending) await secrets.disableVersion(pendingSecretName(name), pending.version);
    return version as string;
  }

  /** The pending version of this rotation, if one exists and is enabled. */
  async pending(ctx: StepContext): Promise<SecretVersion | undefined> {
    const pending = await this.options.secrets.getCurrent(pendingSecretName(ctx.endpoint.secretName));
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

  /** Defence in depth: re-read Key Vault right before regenerating; never touch the slot it names. */
  private async assertNotCurrent(ctx: StepContext): Promise<void> {
    const current = await this.options.secrets.getCurrent(ctx.endpoint.secretName);
    if (
      current?.tags[SECRET_TAGS.slot] === ctx.slot &&
      current.tags[SECRET_TAGS.rotationId] !== ctx.rotationId
    )
      throw new UnsafeRegenerationError(
        `Refusing to regenerate ${ctx.slot} of endpoint ${ctx.endpoint.id}: it is the slot in the current Key Vault version.`,
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
