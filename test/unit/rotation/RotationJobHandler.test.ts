import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { silentLogger } from '../../../shared/logging';
import {
  ArmThrottledError,
  EndpointBusyError,
  KeyNotAcceptedError,
  LeaseLostError,
  SecretDeletedError,
} from '../../../shared/rotation/errors';
import {
  parseRotationJob,
  RotationJobHandler,
  type RotationJobHandlerOptions,
} from '../../../shared/rotation/RotationJobHandler';
import { DRIFT_LEASE_OWNER_PREFIX } from '../../../shared/rotation/RotationJournal';
import { RotationRecorder } from '../../../shared/rotation/RotationRecorder';
import { V1_RULES, V1RuleError } from '../../../shared/v1/v1Rules';
import { CapturingLogger } from '../../fakes/capture';
import { buildRotationFixture, type RotationFixture } from '../../fakes/rotation/buildRotationFixture';

/** A recorder over the fixture's fakes, for handlers built around a stand-in rotator. */
function recorderFor(f: RotationFixture): RotationRecorder {
  const { journal, events, telemetry, clock } = f;
  return new RotationRecorder({ journal, events, telemetry, clock, logger: silentLogger });
}

/** A handler over the fixture, with its queue for put-back jobs; `options` replaces any part. */
function handlerFor(
  f: RotationFixture,
  options: Partial<RotationJobHandlerOptions> = {},
): RotationJobHandler {
  return new RotationJobHandler({
    rotator: f.services.rotator,
    journal: f.journal,
    recorder: recorderFor(f),
    clock: f.clock,
    jobs: f.jobs,
    poison: f.poison,
    logger: silentLogger,
    ...options,
  });
}

const message = { endpointId: 'demo-key', reason: 'schedule', requestedAt: '2026-01-01T00:00:00Z' };

describe('Class: RotationJobHandler', () => {
  describe('Method: handle', () => {
    it('puts a job throttled by ARM back on the queue with a delay instead of failing it', async () => {
      // Prepare: the last delivery, so a failure would go to the poison queue.
      const f = buildRotationFixture();
      f.addEndpoint();
      f.keys.failNext('regenerateKey', new ArmThrottledError(5));

      // Act
      const outcome = await f.services.worker.handle(message, 5);

      // Assess: completed (no throw), one deferred copy, nothing journaled or published as a failure.
      expect(outcome).toMatchObject({ status: 'skipped', reason: 'throttled' });
      expect(f.jobs.jobs).toEqual([{ ...message, deferrals: 1 }]);
      expect(f.jobs.delays[0]).toBeGreaterThanOrEqual(5);
      expect(f.jobs.delays[0]).toBeLessThanOrEqual(15);
      const { state } = await f.journal.getState('demo-key');
      expect(state.lastError).toBeUndefined();
      expect(f.events.events.filter((e) => e.type === 'RotationFailed')).toEqual([]);
      expect(f.keys.regenerations).toHaveLength(0);
    });

    it('completes a job whose run lost its lease to another run, without a poison record on the last delivery', async () => {
      // Prepare
      const f = buildRotationFixture();
      const handler = handlerFor(f, {
        rotator: { run: () => Promise.reject(new LeaseLostError('demo-key')) },
      });

      // Act
      const outcome = await handler.handle(message, 5);

      // Assess
      expect(outcome).toMatchObject({ status: 'skipped', reason: 'inProgress', detail: 'lease lost' });
      expect((await f.journal.getState('demo-key')).state).toEqual({});
      expect(f.journal.steps).toEqual([]);
      expect(f.jobs.jobs).toEqual([]);
    });

    it('leaves the poison record to the run that holds the lease now, and still rethrows', async () => {
      // Prepare: this delivery failed for good while another run holds the endpoint's lease
      const f = buildRotationFixture();
      await f.journal.acquireLease('demo-key', 'another-run', 600_000);
      const handler = new RotationJobHandler({
        rotator: { run: () => Promise.reject(new KeyNotAcceptedError('demo-key', 401)) },
        journal: f.journal,
        recorder: recorderFor(f),
        poison: f.poison,
        clock: f.clock,
        logger: silentLogger,
      });

      // Act / Assess
      await expect(handler.handle(message, 5)).rejects.toThrow(KeyNotAcceptedError);
      expect((await f.journal.getState('demo-key')).state).toEqual({});
      expect(f.journal.steps).toEqual([]);
      expect((await f.journal.getState('demo-key')).lease).toMatchObject({ owner: 'another-run' });
    });

    it('resumes the deferred job from the journaled step and rotates exactly once', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      f.keys.failNext('regenerateKey', new ArmThrottledError(5));
      await f.services.worker.handle(message, 1);
      const deferred = f.jobs.jobs[0];

      // Act
      const outcome = await f.services.worker.handle(JSON.parse(JSON.stringify(deferred)) as unknown, 1);

      // Assess
      expect(outcome).toMatchObject({ status: 'rotated', resumed: true });
      expect(f.keys.regenerations).toHaveLength(1);
    });

    it('handles a job deferred maxDeferrals times like any failure, so permanent throttling surfaces', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      const handler = handlerFor(f, { maxDeferrals: 2 });
      f.keys.failNext('regenerateKey', new ArmThrottledError(5));

      // Act / Assess
      await expect(handler.handle({ ...message, deferrals: 2 }, 1)).rejects.toThrow(ArmThrottledError);
      expect(f.jobs.jobs).toEqual([]);
    });

    it('has the host retry a "rotate now" that arrives while a drift check holds the lease, instead of dropping it', async () => {
      // Prepare: an operator fixed drift by hand (the new version's event starts a drift check) and asks
      // for a rotation at once
      const f = buildRotationFixture();
      f.addEndpoint();
      await f.services.rotator.run({ ...message, reason: 'manual' });
      f.clock.advanceHours(100);
      const check = await f.journal.acquireLease('demo-key', `${DRIFT_LEASE_OWNER_PREFIX}check`, 60_000);
      const job = await f.services.admin.rotateNow('demo-key');

      // Act
      const during = f.services.worker.handle(job, 1);
      await during.catch(() => undefined);
      if (check) await f.journal.releaseLease(check);
      const after = await f.services.worker.handle(job, 2);

      // Assess
      await expect(during).rejects.toThrow(EndpointBusyError);
      expect(after).toMatchObject({ status: 'rotated', slot: 'Primary' });
      expect(f.events.events.filter((e) => e.type === 'RotationFailed')).toEqual([]);
    });

    it('completes a drifted job on its first delivery: one alert, no redelivery, no poison record', async () => {
      // Prepare: Key Vault holds a value that is neither key of the endpoint
      const f = buildRotationFixture();
      f.addEndpoint();
      await f.services.rotator.run({ ...message, reason: 'manual' });
      f.secrets.seed('demo-key-secret', 'typed-by-hand');
      f.clock.advanceHours(800);

      // Act
      const outcome = await f.services.worker.handle(message, 1);

      // Assess: the host completes the message (no throw), so nothing repeats the failure
      expect(outcome).toEqual({ status: 'failed', endpointId: 'demo-key', code: 'DRIFT_DETECTED' });
      expect(f.events.events.filter((e) => e.type === 'DriftDetected')).toHaveLength(1);
      expect(f.events.events.filter((e) => e.type === 'RotationFailed')).toHaveLength(1);
      const { state } = await f.journal.getState('demo-key');
      expect(state.lastError).toMatchObject({ code: 'DRIFT_DETECTED', step: 'plan' });
      expect(f.keys.regenerations).toHaveLength(1);
    });

    it.each([V1_RULES.keyAuthDisabled, V1_RULES.keyAndTokenExclusive, V1_RULES.computeTypeMismatch])(
      'completes a v1 job refused by the rule $code on its first delivery: one alert, no redelivery',
      async (rule) => {
        // Prepare: the service's auth settings changed in Azure; no retry can change them back
        const f = buildRotationFixture();
        f.addEndpoint();
        f.keys.failNext('describe', new V1RuleError(rule, 'demo-key'));

        // Act
        const outcome = await f.services.worker.handle(message, 1);

        // Assess
        expect(outcome).toEqual({ status: 'failed', endpointId: 'demo-key', code: rule.code });
        expect(f.events.events.filter((e) => e.type === 'RotationFailed')).toHaveLength(1);
        const { state } = await f.journal.getState('demo-key');
        expect(state.lastError).toMatchObject({ code: rule.code, step: 'plan' });
      },
    );

    it('completes a job that met a deleted Key Vault secret on its first delivery: a person recovers or purges it', async () => {
      // Prepare: the secret was deleted by hand; Key Vault keeps its name until it is recovered or purged
      const f = buildRotationFixture();
      f.addEndpoint();
      f.secrets.failNext(new SecretDeletedError('demo-key'));

      // Act
      const outcome = await f.services.worker.handle(message, 1);

      // Assess: no throw (no redelivery), one failure journaled and published
      expect(outcome).toEqual({ status: 'failed', endpointId: 'demo-key', code: 'SECRET_DELETED' });
      expect(f.events.events.filter((e) => e.type === 'RotationFailed')).toHaveLength(1);
      const { state } = await f.journal.getState('demo-key');
      expect(state.lastError).toMatchObject({ code: 'SECRET_DELETED' });
    });

    it('puts a "rotate now" that met another run back on the queue until the lease is free, then rotates', async () => {
      // Prepare: rotated long ago; another run (say, a duplicate scheduled job) holds the lease right now
      const f = buildRotationFixture();
      f.addEndpoint();
      await f.services.rotator.run({ ...message, reason: 'manual' });
      f.clock.advanceHours(100);
      const other = await f.journal.acquireLease('demo-key', 'another-run', 600_000);
      const manual = { ...message, reason: 'manual' };

      // Act
      const met = await f.services.worker.handle(manual, 1);
      const scheduled = await f.services.worker.handle(message, 1);
      if (other) await f.journal.releaseLease(other);
      const deferred = f.jobs.jobs.shift();
      const later = await f.services.worker.handle(JSON.parse(JSON.stringify(deferred)) as unknown, 1);

      // Assess: only the manual job came back, and it rotated once the lease was free
      expect(met).toMatchObject({ status: 'skipped', reason: 'inProgress' });
      expect(scheduled).toMatchObject({ status: 'skipped', reason: 'inProgress' });
      expect(deferred).toEqual({ ...manual, deferrals: 1 });
      expect(f.jobs.delays[0]).toBeGreaterThanOrEqual(30);
      expect(f.jobs.jobs).toEqual([]);
      expect(later).toMatchObject({ status: 'rotated' });
    });

    it('gives a "rotate now" up once it has met a running rotation maxDeferrals times', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      await f.journal.acquireLease('demo-key', 'another-run', 600_000);
      const handler = handlerFor(f, { maxDeferrals: 2 });

      // Act
      const outcome = await handler.handle({ ...message, reason: 'manual', deferrals: 2 }, 1);

      // Assess
      expect(outcome).toMatchObject({ status: 'skipped', reason: 'inProgress' });
      expect(f.jobs.jobs).toEqual([]);
    });

    it('still rethrows other failures so the host retries them', async () => {
      // Prepare
      const f = buildRotationFixture({ testTimeoutSeconds: 1 });
      f.addEndpoint();
      f.probe.forceStatus = 401;

      // Act / Assess
      await expect(f.services.worker.handle(message, 1)).rejects.toThrow(KeyNotAcceptedError);
      expect(f.jobs.jobs).toEqual([]);
    });
  });

  describe("Method: handle (an operator's rotate now, noted in the journal)", () => {
    /** A manual job as `POST …/rotate` queues it, with its note in the journal. */
    async function queuedByOperator(f: RotationFixture) {
      await f.services.admin.rotateNow('demo-key');
      const job = f.jobs.jobs.shift()!;
      return JSON.parse(JSON.stringify(job)) as Record<string, unknown>;
    }
    const note = async (f: RotationFixture) => (await f.journal.getState('demo-key')).state.queuedManual;

    it('keeps the note while a copy waits on the queue for another run to let go of the lease, and drops it once the copy ran', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      const job = await queuedByOperator(f);
      const other = await f.journal.acquireLease('demo-key', 'another-run', 600_000);

      // Act
      const met = await f.services.worker.handle(job, 1);
      const whileWaiting = await note(f);
      await f.journal.releaseLease(other!);
      const copy = JSON.parse(JSON.stringify(f.jobs.jobs.shift())) as unknown;
      const ran = await f.services.worker.handle(copy, 1);

      // Assess
      expect(met).toMatchObject({ status: 'skipped', reason: 'inProgress' });
      expect(whileWaiting).toEqual({ requestId: job.requestId, queuedAt: job.requestedAt });
      expect(copy).toMatchObject({ requestId: job.requestId, deferrals: 1 });
      expect(ran).toMatchObject({ status: 'rotated' });
      expect(await note(f)).toBeUndefined();
    });

    it('keeps the note while the host delivers a failed job again, and drops it after the last delivery', async () => {
      // Prepare: the new key is never accepted
      const f = buildRotationFixture({ testTimeoutSeconds: 1 });
      f.addEndpoint();
      f.probe.forceStatus = 401;
      const job = await queuedByOperator(f);

      // Act
      await expect(f.services.worker.handle(job, 1)).rejects.toThrow(KeyNotAcceptedError);
      const afterFirst = await note(f);
      await expect(f.services.worker.handle(job, 5)).rejects.toThrow(KeyNotAcceptedError);

      // Assess
      expect(afterFirst?.requestId).toBe(job.requestId);
      expect(await note(f)).toBeUndefined();
    });

    it('drops the note of a job skipped in the grace period, and leaves the note of a later request alone', async () => {
      // Prepare: another job rotated the endpoint after the operator's was queued (POST …/rotate refuses one in
      // grace: ROTATION_IN_GRACE), so the job finds the other slot in its grace period; a later request is noted
      const f = buildRotationFixture();
      f.addEndpoint();
      const job = await queuedByOperator(f);
      await f.services.rotator.run({ ...message, reason: 'manual' });
      const later = { requestId: 'later-request', queuedAt: new Date(f.clock.now()).toISOString() };

      // Act
      const skipped = await f.services.worker.handle(job, 1);
      const dropped = await note(f);
      await f.journal.markManualRotation('demo-key', later, () => false);
      await f.services.worker.handle(job, 1);

      // Assess
      expect(skipped).toMatchObject({ status: 'skipped', reason: 'inGrace' });
      expect(dropped).toBeUndefined();
      expect(await note(f)).toEqual(later);
    });
  });

  describe('Method: handle (malformed message)', () => {
    it('moves a malformed job to the poison queue on its first delivery, logging the bad fields (never their values)', async () => {
      // Prepare: a hand-written job with a reason this version does not know
      const f = buildRotationFixture();
      const logger = new CapturingLogger();
      const handler = handlerFor(f, {
        rotator: { run: () => Promise.reject(new Error('not reached')) },
        logger,
      });
      const malformed = { endpointId: 'demo-key', reason: 'rotate', key: 'NOT-TO-BE-LOGGED' };

      // Act
      const outcome = await handler.handle(malformed, 1);

      // Assess: completed, so the host does not deliver it again; the message as delivered on the poison queue
      const issues = 'reason: one of schedule, manual, nearExpiry, expired, drift';
      expect(outcome).toEqual({ status: 'malformed', poisonQueue: 'rotation-jobs-poison', issues });
      expect(f.poison.texts).toEqual([JSON.stringify(malformed)]);
      expect(logger.lines).toEqual([
        {
          level: 'error',
          message: 'handle => malformed job moved to poison queue',
          props: { queue: 'rotation-jobs-poison', dequeueCount: 1, issues },
        },
      ]);
      expect(JSON.stringify(logger.lines)).not.toContain('NOT-TO-BE-LOGGED');
      expect(f.jobs.jobs).toEqual([]);
      expect(f.journal.steps).toEqual([]);
    });

    it("names the delivered message's id and its copy's on the poison queue, which gets an id of its own", async () => {
      // Prepare: the queue answers the copy's id, as Storage does
      const f = buildRotationFixture();
      f.poison.answersIds = true;
      const logger = new CapturingLogger();
      const handler = handlerFor(f, { logger });

      // Act
      const outcome = await handler.handle({ endpointId: 'demo-key', reason: 'rotate' }, 1, 'msg-1');

      // Assess: an operator matches the two by id, not by time
      expect(outcome).toMatchObject({ status: 'malformed', poisonMessageId: 'poison-1' });
      expect(logger.lines).toMatchObject([
        {
          level: 'error',
          message: 'handle => malformed job moved to poison queue',
          props: { messageId: 'msg-1', poisonMessageId: 'poison-1', dequeueCount: 1 },
        },
      ]);
    });

    it('moves text that is not JSON as it was delivered', async () => {
      // Prepare
      const f = buildRotationFixture();

      // Act
      const outcome = await handlerFor(f).handle('rotate demo-key please', 1);

      // Assess
      expect(outcome).toMatchObject({ status: 'malformed', issues: 'message: must be JSON' });
      expect(f.poison.texts).toEqual(['rotate demo-key please']);
    });

    it('rethrows when the poison queue cannot be written, so the host delivers the job again', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.poison.down = true;

      // Act / Assess
      await expect(handlerFor(f).handle({ reason: 'rotate' }, 1)).rejects.toThrow('queue unavailable');
    });
  });

  describe('Method: handle (message of a newer format)', () => {
    // A job a newer version wrote, during a rolling deployment, with a reason this version has no name for
    const newer = {
      v: 2,
      endpointId: 'demo-key',
      reason: 'compromised',
      requestedAt: '2026-01-01T00:00:00Z',
      requestedBy: 'soc',
    };

    it('puts it back on the queue, every field as written, for an instance of that version, even on its last delivery', async () => {
      // Prepare
      const f = buildRotationFixture();
      const handler = handlerFor(f, { rotator: { run: () => Promise.reject(new Error('not reached')) } });

      // Act
      const outcome = await handler.handle(JSON.stringify(newer), 5);

      // Assess
      expect(outcome).toMatchObject({ status: 'skipped', endpointId: 'demo-key', reason: 'newerFormat' });
      expect(f.poison.texts).toEqual([]);
      expect(f.jobs.jobs).toEqual([{ ...newer, deferrals: 1 }]);
      expect(f.jobs.delays[0]).toBeGreaterThanOrEqual(60);
      expect(f.jobs.delays[0]).toBeLessThanOrEqual(120);
    });

    it('gives it up like a malformed job once put back maxDeferrals times, when no instance of that version took it', async () => {
      // Prepare
      const f = buildRotationFixture();
      const logger = new CapturingLogger();
      const handler = handlerFor(f, { maxDeferrals: 2, logger });

      // Act
      const outcome = await handler.handle({ ...newer, deferrals: 2 }, 1);

      // Assess
      expect(outcome).toMatchObject({ status: 'malformed', poisonQueue: 'rotation-jobs-poison' });
      expect(f.jobs.jobs).toEqual([]);
      expect(f.poison.texts).toEqual([JSON.stringify({ ...newer, deferrals: 2 })]);
      expect(logger.lines).toMatchObject([
        { level: 'error', message: 'handle => malformed job moved to poison queue' },
      ]);
    });
  });

  describe('Method: handle (an endpoint a newer version registered)', () => {
    // During a rolling deployment a newer version registered the endpoint with a kind or auth mode added since
    const unknownToThisVersion = [
      ['kind', { kind: 'managedComputeEndpoint' }],
      ['authMode', { authMode: 'ManagedIdentityToken' }],
    ] as const;

    it.each(unknownToThisVersion)(
      'touches nothing for an endpoint whose %s this version does not know, and puts the job back for an instance that knows it',
      async (field, newer) => {
        // Prepare: the last delivery, so a failure would go to the poison queue
        const f = buildRotationFixture();
        f.addEndpoint(newer as unknown as Partial<ManagedEndpoint>);

        // Act
        const outcome = await f.services.worker.handle(message, 5);

        // Assess: no key call, no Key Vault write, no failure journaled (which would hold the newer
        // version's timer off for a day) or published; a warning and a copy of the job
        expect(outcome).toMatchObject({ status: 'skipped', endpointId: 'demo-key', reason: 'notKnownHere' });
        expect(f.keys.calls).toHaveLength(0);
        expect(f.secrets.versions('demo-key-secret')).toHaveLength(0);
        const { state } = await f.journal.getState('demo-key');
        expect(state.lastOutcome).toBeUndefined();
        expect(state.lastError).toBeUndefined();
        expect(f.events.events).toEqual([]);
        expect(f.jobs.jobs).toEqual([{ ...message, deferrals: 1 }]);
        expect(f.jobs.delays[0]).toBeGreaterThanOrEqual(60);
        expect(
          f.logs.filter((l) => l.startsWith('warn') && l.includes('this version does not know')),
        ).toEqual([expect.stringContaining(field)]);
      },
    );

    it('skips it without putting it back once put back maxDeferrals times, when no instance knew it', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({ kind: 'managedComputeEndpoint' } as unknown as Partial<ManagedEndpoint>);
      const handler = handlerFor(f, { maxDeferrals: 2 });

      // Act
      const outcome = await handler.handle({ ...message, deferrals: 2 }, 5);

      // Assess
      expect(outcome).toMatchObject({ status: 'skipped', reason: 'notKnownHere' });
      expect(f.jobs.jobs).toEqual([]);
      expect(f.keys.calls).toHaveLength(0);
    });
  });

  describe('Function: parseRotationJob', () => {
    it('keeps a positive whole deferral count and drops anything else', () => {
      expect(parseRotationJob({ ...message, deferrals: 3 }).deferrals).toBe(3);
      expect(parseRotationJob({ ...message, deferrals: -1 })).not.toHaveProperty('deferrals');
      expect(parseRotationJob({ ...message, deferrals: 'x' })).not.toHaveProperty('deferrals');
    });

    it('keeps the id of the request that queued a manual job, a non-empty string, and drops anything else', () => {
      expect(parseRotationJob({ ...message, requestId: 'r-1' }).requestId).toBe('r-1');
      expect(parseRotationJob({ ...message, requestId: '' })).not.toHaveProperty('requestId');
      expect(parseRotationJob({ ...message, requestId: 7 })).not.toHaveProperty('requestId');
    });
  });
});
