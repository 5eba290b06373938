import { join } from 'node:path';

import { readHostJson } from '../../../local/host/hostJson';
import { untilAborted } from '../../../shared/clock';
import { errorCode } from '../../../shared/rotation/errors';
import { HOLD_WITHIN_MS } from '../../../shared/rotation/RotationEventSink';
import type { RotationJob } from '../../../shared/rotation/RotationJob';
import { STOP_MARGIN_MS, STOP_SEND_MS } from '../../../shared/rotation/RunBudget';
import { buildRotationFixture, type RotationFixture } from '../../fakes/rotation/buildRotationFixture';
import { runSurvivingCrash } from '../../fakes/rotation/crashHarness';
import { settle } from '../../support/waitFor';

/** What the Functions host allows one invocation (host.json `functionTimeout`): it kills a run still going then. */
const FUNCTION_TIMEOUT_MS =
  readHostJson(join(__dirname, '..', '..', '..', 'host.json')).functionTimeoutMs ?? 0;

const job = (reason: RotationJob['reason'] = 'schedule'): RotationJob => ({
  endpointId: 'demo-key',
  reason,
  requestedAt: '2026-01-01T00:00:00Z',
});

/** An onboarded endpoint whose Secondary was rotated, due again: its next run rotates Primary. */
async function dueEndpoint(testTimeoutSeconds = 60, functionTimeoutMs?: number): Promise<RotationFixture> {
  const f = buildRotationFixture({ testTimeoutSeconds, ...(functionTimeoutMs ? { functionTimeoutMs } : {}) });
  f.addEndpoint({}, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });
  await f.services.rotator.run(job('manual'));
  f.clock.advanceHours(100);
  return f;
}

/** The run ended itself before the host's functionTimeout would have, as `ROTATION_OUT_OF_TIME`. */
async function expectOutOfTimeBeforeHostTimeout(
  lasted: number | undefined,
  run: Promise<unknown>,
): Promise<void> {
  expect(lasted).toBeDefined();
  expect(lasted).toBeLessThan(FUNCTION_TIMEOUT_MS);
  expect(errorCode(await run.catch((e: unknown) => e))).toBe('ROTATION_OUT_OF_TIME');
}

/**
 * Lets fake time pass a second at a time, as a queue delivery would live it, until `run` settles or the
 * host's functionTimeout since `startedAt` is reached (where the real host would kill the invocation).
 * @returns how long the run lasted, or undefined when the host would have killed it
 */
async function hostTime(
  f: RotationFixture,
  run: Promise<unknown>,
  startedAt = f.clock.now(),
  functionTimeoutMs = FUNCTION_TIMEOUT_MS,
): Promise<number | undefined> {
  let endedAt: number | undefined;
  void run.then(
    () => (endedAt = f.clock.now()),
    () => (endedAt = f.clock.now()),
  );
  await settle();
  while (endedAt === undefined && f.clock.now() - startedAt < functionTimeoutMs) {
    f.clock.advance(1000);
    await settle();
  }
  return endedAt === undefined ? undefined : endedAt - startedAt;
}

describe('Class: KeyRotator (time budget of a run)', () => {
  it('stops a run whose regenerate never finishes before the host kills it, and the next delivery resumes at set', async () => {
    // Prepare: ARM's regenerateKeys long-running operation never finishes
    const f = await dueEndpoint();
    f.keys.holdNextRegenerate();

    // Act: a delivery of the job, as the queue trigger runs it
    const run = f.services.worker.handle(job(), 1);
    const lasted = await hostTime(f, run);

    // Assess: the run ended itself, with a code the queue retries, before functionTimeout
    expect(lasted).toBeDefined();
    expect(lasted).toBeLessThan(FUNCTION_TIMEOUT_MS);
    const error = await run.catch((e: unknown) => e);
    expect(errorCode(error)).toBe('ROTATION_OUT_OF_TIME');
    const { state, lease } = await f.journal.getState('demo-key');
    expect(state.lastError).toMatchObject({ code: 'ROTATION_OUT_OF_TIME', step: 'set' });
    expect(state.active?.step).toBe('created');
    expect(lease).toBeUndefined();
    expect(f.logs.some((l) => /rotate => failed.*step=set.*code=ROTATION_OUT_OF_TIME/.test(l))).toBe(true);

    // Act: the message's next delivery
    const resumed = await f.services.worker.handle(job(), 2);

    // Assess
    expect(resumed).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: true });
    expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary', 'Primary']);
  });

  it('stops a run within a functionTimeout an app setting lowered (AzureFunctionsJobHost__functionTimeout)', async () => {
    // Prepare: the host allows 5 minutes; ARM's regenerateKeys long-running operation never finishes
    const functionTimeoutMs = 5 * 60_000;
    const f = await dueEndpoint(60, functionTimeoutMs);
    f.keys.holdNextRegenerate();

    // Act
    const run = f.services.worker.handle(job(), 1);
    const lasted = await hostTime(f, run, f.clock.now(), functionTimeoutMs);

    // Assess: ended by itself a minute before the host would have killed it
    expect(lasted).toBeDefined();
    expect(lasted).toBeLessThanOrEqual(functionTimeoutMs - 60_000);
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('ROTATION_OUT_OF_TIME');
  });

  it('stops the test step when a slow regenerate left too little of the run for it, leaving Key Vault untouched', async () => {
    // Prepare: the longest test step the settings allow; the regenerate took 400 s; the key is refused
    const f = await dueEndpoint(480);
    const regenerate = f.keys.holdNextRegenerate();
    f.probe.forceStatus = 401;
    const before = f.secrets.versions('demo-key-secret');

    // Act
    const startedAt = f.clock.now();
    const run = f.services.rotator.run(job());
    await regenerate.reached;
    f.clock.advance(400_000);
    regenerate.release();
    const lasted = await hostTime(f, run, startedAt);

    // Assess: stopped as out of time (not as a refused key: the test step did not get its 480 s)
    expect(lasted).toBeDefined();
    expect(lasted).toBeLessThan(FUNCTION_TIMEOUT_MS);
    const error = await run.catch((e: unknown) => e);
    expect(errorCode(error)).toBe('ROTATION_OUT_OF_TIME');
    const { state } = await f.journal.getState('demo-key');
    expect(state.lastError).toMatchObject({ code: 'ROTATION_OUT_OF_TIME', step: 'test' });
    expect(state.active?.step).toBe('set');
    expect(f.secrets.versions('demo-key-secret')).toEqual(before);
  });

  it("stops a run whose read of the endpoint's auth mode never answers, and hands that read the run's signal", async () => {
    // Prepare: ARM's GET of the endpoint hangs (it ends only when its signal fires, as the SDK's request does)
    const f = await dueEndpoint();
    f.keys.describeHangs = true;

    // Act
    const run = f.services.worker.handle(job(), 1);
    const lasted = await hostTime(f, run);

    // Assess: ended by itself before functionTimeout, as out of time, before anything was written
    await expectOutOfTimeBeforeHostTimeout(lasted, run);
    const { state, lease } = await f.journal.getState('demo-key');
    expect(state.lastError).toMatchObject({ code: 'ROTATION_OUT_OF_TIME', step: 'plan' });
    expect(lease).toBeUndefined();
    const signal = f.keys.describeSignals.at(-1);
    expect(signal?.aborted).toBe(true);
    expect(f.keys.regenerations).toHaveLength(1);
  });

  it('stops a repair whose Key Vault write never answers, and the next delivery repairs', async () => {
    // Prepare: a run set the key at the endpoint, then its journal and Key Vault's main secret went astray
    // (the repair plan); Key Vault's write of the main secret hangs until its signal fires
    const f = await dueEndpoint();
    f.probe.forceStatus = 401;
    await expect(f.services.rotator.run(job())).rejects.toMatchObject({ code: 'NEW_KEY_NOT_ACCEPTED' });
    f.probe.forceStatus = undefined;
    f.journal.seedState('demo-key', {});
    f.secrets.seed('demo-key-secret', 'typed-by-hand');
    const setVersion = f.secrets.setVersion.bind(f.secrets);
    const signals: Array<AbortSignal | undefined> = [];
    f.secrets.setVersion = (...args) => {
      signals.push(args[3]);
      return untilAborted(new Promise<never>(() => undefined), args[3]);
    };

    // Act
    const run = f.services.worker.handle(job(), 1);
    const lasted = await hostTime(f, run);

    // Assess: the repair stopped before functionTimeout, as out of time, its write handed the run's signal
    await expectOutOfTimeBeforeHostTimeout(lasted, run);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(true);

    // Act: the next delivery, Key Vault answering again
    f.secrets.setVersion = setVersion;
    const repaired = await f.services.worker.handle(job(), 2);

    // Assess
    expect(repaired).toMatchObject({ status: 'repaired', slot: 'Primary' });
    expect((await f.secrets.getCurrent('demo-key-secret'))?.value).toBe(f.keys.keysOf('demo-key').Primary);
  });
  it('stops an onboarding whose Key Vault write never answers, and the next delivery onboards', async () => {
    // Prepare: an endpoint with no secret yet; Key Vault's write of its first version hangs until its signal fires
    const f = buildRotationFixture();
    f.addEndpoint({}, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });
    const setVersion = f.secrets.setVersion.bind(f.secrets);
    const signals: Array<AbortSignal | undefined> = [];
    f.secrets.setVersion = (...args) => {
      signals.push(args[3]);
      return untilAborted(new Promise<never>(() => undefined), args[3]);
    };

    // Act
    const run = f.services.worker.handle(job('manual'), 1);
    const lasted = await hostTime(f, run);

    // Assess: the onboarding stopped before functionTimeout, as out of time in step plan, its write handed
    // the run's signal
    await expectOutOfTimeBeforeHostTimeout(lasted, run);
    const { state, lease } = await f.journal.getState('demo-key');
    expect(state.lastError).toMatchObject({ code: 'ROTATION_OUT_OF_TIME', step: 'plan' });
    expect(lease).toBeUndefined();
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(true);

    // Act: the next delivery, Key Vault answering again
    f.secrets.setVersion = setVersion;
    const onboarded = await f.services.worker.handle(job('manual'), 2);

    // Assess: Primary published first, then Secondary rotated, as an onboarding that was never cut
    expect(onboarded).toMatchObject({ status: 'rotated', slot: 'Secondary' });
    expect(f.secrets.versions('demo-key-secret').map((v) => v.tags.slot)).toEqual(['Primary', 'Secondary']);
  });

  it('stops an onboarding whose Key Vault write landed but never answered, and the next scheduled delivery rotates Secondary', async () => {
    // Prepare: an endpoint with no secret yet; Key Vault takes the first version, and its answer never comes
    const f = buildRotationFixture();
    f.addEndpoint({}, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });
    const setVersion = f.secrets.setVersion.bind(f.secrets);
    f.secrets.setVersion = async (...args) => {
      await setVersion(...args);
      return untilAborted(new Promise<never>(() => undefined), args[3]);
    };

    // Act: the timer's job, cut in step plan with the version written
    const run = f.services.worker.handle(job('schedule'), 1);
    await expectOutOfTimeBeforeHostTimeout(await hostTime(f, run), run);
    f.secrets.setVersion = setVersion;
    const next = await f.services.worker.handle(job('schedule'), 2);

    // Assess: the fresh version is the onboarding's own, no rotation: Secondary is rotated now, not a period later
    expect(f.secrets.versions('demo-key-secret')[0]?.value).toBe('initial-primary');
    expect(next).toMatchObject({ status: 'rotated', slot: 'Secondary' });
    expect(f.secrets.versions('demo-key-secret').map((v) => v.tags.slot)).toEqual(['Primary', 'Secondary']);
  });

  it.each([
    ['Key Vault: the current version', 'getCurrent'],
    ["ARM: the endpoint's keys", 'listKeys'],
    ['Key Vault: the versions, for grace', 'listVersions'],
  ] as const)(
    "stops a run whose plan read never answers (%s), handing it the run's signal",
    async (_, read) => {
      // Prepare: a due endpoint; one read of the plan hangs until its signal fires, as the SDK's request does
      const f = await dueEndpoint();
      const signals: Array<AbortSignal | undefined> = [];
      const hangs = (signal: AbortSignal | undefined): Promise<never> => {
        signals.push(signal);
        return untilAborted(new Promise<never>(() => undefined), signal);
      };
      if (read === 'listKeys') f.keys.listKeys = (_endpoint, signal) => hangs(signal);
      else f.secrets[read] = (_name, signal) => hangs(signal);
      const before = f.secrets.versions('demo-key-secret');

      // Act
      const run = f.services.worker.handle(job(), 1);
      const lasted = await hostTime(f, run);

      // Assess: ended by itself before functionTimeout, as out of time in step plan, with nothing written
      await expectOutOfTimeBeforeHostTimeout(lasted, run);
      const { state, lease } = await f.journal.getState('demo-key');
      expect(state.lastError).toMatchObject({ code: 'ROTATION_OUT_OF_TIME', step: 'plan' });
      expect(state.active).toBeUndefined();
      expect(lease).toBeUndefined();
      expect(signals).toHaveLength(1);
      expect(signals[0]?.aborted).toBe(true);
      expect(f.secrets.versions('demo-key-secret')).toEqual(before);
      expect(f.keys.regenerations).toHaveLength(1);
    },
  );

  it("hands the run's signal to every read of a plan that finds drift", async () => {
    // Prepare: Key Vault's current version was typed by hand; the plan also reads the pending secret
    const f = await dueEndpoint();
    f.secrets.seed('demo-key-secret', 'typed-by-hand');
    const readsBefore = f.secrets.signals.length;
    const keyReadsBefore = f.keys.listKeysSignals.length;

    // Act
    await expect(f.services.rotator.run(job('manual'))).rejects.toMatchObject({ code: 'DRIFT_DETECTED' });

    // Assess: the main secret, then the pending one, and the keys, each read with the run's signal
    const reads = f.secrets.signals.slice(readsBefore);
    expect(reads).toHaveLength(2);
    expect(reads.every((signal) => signal instanceof AbortSignal)).toBe(true);
    expect(f.keys.listKeysSignals.slice(keyReadsBefore)).toEqual([reads[0]]);
  });
});

describe('Class: KeyRotator (a test step the time budget cut, resumed)', () => {
  /**
   * The first delivery of a due job whose regenerate took 400 s: the key went into the slot 400 s into the
   * run, and the run's 9 minutes cut its 480-s test step after 140 s.
   * @returns when the slot took the key
   */
  async function cutAfter140sOfTesting(f: RotationFixture): Promise<number> {
    const regenerate = f.keys.holdNextRegenerate();
    const startedAt = f.clock.now();
    const run = f.services.worker.handle(job(), 1);
    await regenerate.reached;
    f.clock.advance(400_000);
    regenerate.release();
    await hostTime(f, run, startedAt);
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('ROTATION_OUT_OF_TIME');
    expect((await f.journal.getState('demo-key')).state.lastError).toMatchObject({ step: 'test' });
    return startedAt + 400_000;
  }

  it('tests on the next delivery only for what is left of ROTATION_TEST_TIMEOUT_SECONDS since the set step', async () => {
    // Prepare: a key the scoring URI never accepts; the first delivery tested it for 140 of its 480 s
    const f = await dueEndpoint(480);
    f.probe.forceStatus = 401;
    await cutAfter140sOfTesting(f);
    const probesBefore = f.probe.calls.length;

    // Act: the next delivery
    const run = f.services.worker.handle(job(), 2);
    const lasted = await hostTime(f, run);

    // Assess: it tested for the other 340 s (less the backoff the first run slept past its budget), not for
    // 480 s again, and says the key was not accepted
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(lasted).toBeGreaterThanOrEqual(330_000);
    expect(lasted).toBeLessThanOrEqual(341_000);
    expect(f.probe.calls.length).toBeGreaterThan(probesBefore);
    expect((await f.journal.getState('demo-key')).state.lastError).toMatchObject({
      code: 'NEW_KEY_NOT_ACCEPTED',
      step: 'test',
    });
  });

  it('fails a resumed test whose window has passed with NEW_KEY_NOT_ACCEPTED, after at least one attempt', async () => {
    // Prepare: the key is refused; the app was down for three hours after the cut run
    const f = await dueEndpoint(480);
    f.probe.forceStatus = 401;
    await cutAfter140sOfTesting(f);
    f.clock.advanceHours(3);
    const probesBefore = f.probe.calls.length;

    // Act
    const run = f.services.worker.handle(job(), 2);
    const lasted = await hostTime(f, run);

    // Assess: a short last try (at most 30 s), not another 480 s
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(f.probe.calls.length).toBeGreaterThan(probesBefore);
    expect(lasted).toBeLessThanOrEqual(31_000);
  });

  it('finishes a resumed test whose window has passed when the key is accepted now', async () => {
    // Prepare: the key takes two hours to be accepted; the app was down for three after the cut run
    const f = await dueEndpoint(480);
    f.keys.propagationMs = 2 * 3_600_000;
    await cutAfter140sOfTesting(f);
    f.clock.advanceHours(3);

    // Act
    const outcome = await f.services.worker.handle(job(), 2);

    // Assess
    expect(outcome).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: true });
    expect(f.secrets.versions('demo-key-secret').at(-1)?.value).toBe(f.keys.keysOf('demo-key').Primary);
  });

  it('keeps trying for a short while a resumed test whose window has passed, for a key accepted 20 s in', async () => {
    // Prepare: the window ended 480 s after the set step; the next run starts 20 s later, and the key is
    // accepted 20 s after that
    const f = await dueEndpoint(480);
    f.keys.propagationMs = 520_000;
    const setAt = await cutAfter140sOfTesting(f);
    f.clock.set(setAt + 500_000);

    // Act
    const outcome = await f.services.worker.handle(job(), 2);

    // Assess
    expect(outcome).toMatchObject({ status: 'rotated', resumed: true });
    expect(f.probe.calls.filter((c) => c.status === 401).length).toBeGreaterThan(1);
  });

  it('fails a key ARM throttling never lets be tested in full as NEW_KEY_NOT_ACCEPTED, not ROTATION_OUT_OF_TIME in the poison queue', async () => {
    // Prepare: every ARM write waits a minute at the write gate; the key is never accepted
    const f = await dueEndpoint(480);
    f.keys.writeGateWaitMs = 60_000;
    f.probe.forceStatus = 401;

    // Act: the job's deliveries, 30 s apart (host.json's visibilityTimeout), until one does not fail out of time
    const codes: string[] = [];
    for (let delivery = 1; delivery <= 5; delivery += 1) {
      const run = f.services.worker.handle(job(), delivery);
      expect(await hostTime(f, run)).toBeDefined();
      codes.push(errorCode(await run.catch((e: unknown) => e)));
      if (codes.at(-1) !== 'ROTATION_OUT_OF_TIME') break;
      f.clock.advance(30_000);
    }

    // Assess
    expect(codes).toEqual(['ROTATION_OUT_OF_TIME', 'NEW_KEY_NOT_ACCEPTED']);
  });

  it('tests for no longer than the timeout when the journaled set step is ahead of this clock (another instance)', async () => {
    // Prepare: the key is refused; the instance that journaled the set step had a clock an hour ahead
    const f = await dueEndpoint(480);
    f.probe.forceStatus = 401;
    await cutAfter140sOfTesting(f);
    const { state } = await f.journal.getState('demo-key');
    const ahead = new Date(f.clock.now() + 3_600_000).toISOString();
    f.journal.seedState('demo-key', { ...state, active: { ...state.active!, setAt: ahead } });

    // Act
    const run = f.services.worker.handle(job(), 2);
    const lasted = await hostTime(f, run);

    // Assess: the window counts from now, not from an hour on
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(lasted).toBeGreaterThanOrEqual(480_000);
    expect(lasted).toBeLessThanOrEqual(481_000);
  });

  it('tests for the whole timeout again when the journal does not say when the set step ended (an older version journaled it)', async () => {
    // Prepare: the key is refused; the run that was cut journaled its set step as an older version does
    const f = await dueEndpoint(480);
    f.probe.forceStatus = 401;
    await cutAfter140sOfTesting(f);
    const { state } = await f.journal.getState('demo-key');
    const { setAt: _, ...active } = state.active as NonNullable<typeof state.active> & { setAt?: string };
    f.journal.seedState('demo-key', { ...state, active });

    // Act
    const run = f.services.worker.handle(job(), 2);
    const lasted = await hostTime(f, run);

    // Assess: the test step's behaviour before the window was journaled
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(lasted).toBeGreaterThanOrEqual(480_000);
  });
});

describe('Class: KeyRotator (time budget of a run, event sends)', () => {
  it('stops a run whose send of the event a stopped run left behind never answers, and keeps that event for the next', async () => {
    // Prepare: a finished rotation's KeyRotated event left unsent in the journal; Event Grid hangs (its send
    // ends only when its signal fires, as the SDK's request does)
    const f = await dueEndpoint();
    const { state } = await f.journal.getState('demo-key');
    const unsentEvent = {
      eventId: 'left-behind-id',
      event: {
        type: 'KeyRotated' as const,
        endpointId: 'demo-key',
        secretName: 'demo-key-secret',
        time: '2026-01-01T00:00:00Z',
      },
    };
    f.journal.seedState('demo-key', { ...state, unsentEvent });
    f.events.hangs = 'KeyRotated';
    const sendsBefore = f.events.signals.length;

    // Act
    const run = f.services.worker.handle(job(), 1);
    const lasted = await hostTime(f, run);

    // Assess: ended by itself before functionTimeout, as out of time in step plan, the event still journaled
    await expectOutOfTimeBeforeHostTimeout(lasted, run);
    const after = await f.journal.getState('demo-key');
    expect(after.state.lastError).toMatchObject({ code: 'ROTATION_OUT_OF_TIME', step: 'plan' });
    expect(after.state.unsentEvent).toEqual(unsentEvent);
    expect(after.lease).toBeUndefined();
    expect(f.events.signals[sendsBefore]?.aborted).toBe(true);
    expect(f.keys.regenerations).toHaveLength(1);

    // Act: the next delivery, Event Grid answering again
    f.events.hangs = undefined;
    const sentBefore = f.events.eventIds.length;
    const outcome = await f.services.worker.handle(job(), 2);

    // Assess: the event went out under its journaled id, and the run rotated
    expect(outcome).toMatchObject({ status: 'rotated' });
    expect(f.events.eventIds[sentBefore]).toBe('left-behind-id');
  });

  it('keeps a finished rotation rotated when its event send never answers, the event left in the journal for the next run', async () => {
    // Prepare: Event Grid hangs on KeyRotated
    const f = await dueEndpoint();
    f.events.hangs = 'KeyRotated';

    // Act
    const run = f.services.worker.handle(job(), 1);
    const lasted = await hostTime(f, run);

    // Assess: the run ended by itself within its budget, its outcome the rotation's; the event, unsent, is journaled
    expect(lasted).toBeDefined();
    expect(lasted).toBeLessThanOrEqual(FUNCTION_TIMEOUT_MS - 60_000);
    expect(await run).toMatchObject({ status: 'rotated', slot: 'Primary' });
    const { state, lease } = await f.journal.getState('demo-key');
    expect(state.lastOutcome).toBe('succeeded');
    expect(state.lastError).toBeUndefined();
    expect(state.unsentEvent?.event).toMatchObject({ type: 'KeyRotated', slot: 'Primary' });
    expect(lease).toBeUndefined();
    expect(f.events.signals.at(-1)?.aborted).toBe(true);
    expect(f.logs.some((l) => /publish => cut, the run is out of time.*type=KeyRotated/.test(l))).toBe(true);

    // Act: the next run (the timer queues one for the unsent event)
    f.events.hangs = undefined;
    const next = await f.services.worker.handle(job(), 1);

    // Assess: it sent the event under the journaled id and cleared it; nothing else to do
    expect(next).toMatchObject({ status: 'skipped', reason: 'notDue' });
    expect(f.events.events.at(-1)).toMatchObject({ type: 'KeyRotated', slot: 'Primary' });
    expect(f.events.eventIds.at(-1)).toBe(state.unsentEvent?.eventId);
    expect((await f.journal.getState('demo-key')).state.unsentEvent).toBeUndefined();
  });

  it('keeps a finished rotation rotated within its budget when the sink does not heed the signal', async () => {
    // Prepare: a send that hangs whatever its signal says (a sink holding the event on a retry queue that hangs)
    const f = await dueEndpoint();
    f.events.hangs = 'KeyRotated';
    f.events.heedsSignal = false;

    // Act
    const run = f.services.worker.handle(job(), 1);
    const lasted = await hostTime(f, run);

    // Assess
    expect(lasted).toBeDefined();
    expect(lasted).toBeLessThanOrEqual(FUNCTION_TIMEOUT_MS - 60_000);
    expect(await run).toMatchObject({ status: 'rotated' });
    expect((await f.journal.getState('demo-key')).state.unsentEvent).toBeDefined();
  });
});

describe("Class: KeyRotator (an operator's POST …/rotate after NEW_KEY_NOT_ACCEPTED)", () => {
  /**
   * A due endpoint whose scoring deployment refuses the new key for the whole test window: its first
   * delivery fails NEW_KEY_NOT_ACCEPTED with the key in the slot and the rotation left at step set.
   */
  async function keyNotAccepted(testTimeoutSeconds = 120): Promise<RotationFixture> {
    // A 30-s lease, so that a crashed run's lease lapses well within the window
    const f = buildRotationFixture({ testTimeoutSeconds, leaseSeconds: 30 });
    f.addEndpoint({}, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });
    await f.services.rotator.run(job('manual'));
    f.clock.advanceHours(100);
    f.probe.forceStatus = 401;
    const run = f.services.worker.handle(job(), 1);
    expect(await hostTime(f, run)).toBeGreaterThanOrEqual(testTimeoutSeconds * 1000);
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect((await f.journal.getState('demo-key')).state.active?.step).toBe('set');
    return f;
  }

  /** The job `POST …/rotate` enqueues now. */
  async function rotateNow(f: RotationFixture): Promise<RotationJob> {
    return f.services.admin.rotateNow('demo-key');
  }

  it('tests for the whole ROTATION_TEST_TIMEOUT_SECONDS again, not only a 30-s last try', async () => {
    // Prepare: the rotation failed; an hour later the operator asks again (the deployment still refuses)
    const f = await keyNotAccepted();
    f.clock.advanceHours(1);
    const asked = await rotateNow(f);

    // Act
    const run = f.services.worker.handle(asked, 1);
    const lasted = await hostTime(f, run);

    // Assess
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(lasted).toBeGreaterThanOrEqual(120_000);
    expect(lasted).toBeLessThanOrEqual(121_000);
  });

  it('finishes when the mended deployment accepts the key 90 s into the fresh window', async () => {
    // Prepare: the operator mends the deployment, which takes 90 s after the request to score again
    const f = await keyNotAccepted();
    f.clock.advanceHours(1);
    const asked = await rotateNow(f);
    const mendedAt = f.clock.now() + 90_000;
    f.probe.forceStatus = undefined;
    const accepts = f.keys.accepts.bind(f.keys);
    f.keys.accepts = (id, key) => f.clock.now() >= mendedAt && accepts(id, key);

    // Act
    const run = f.services.worker.handle(asked, 1);
    await hostTime(f, run);

    // Assess
    expect(await run).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: true });
    expect(f.secrets.versions('demo-key-secret').at(-1)?.value).toBe(f.keys.keysOf('demo-key').Primary);
  });

  it("makes only the 30-s last try on a redelivery of the operator's job that failed again", async () => {
    // Prepare: the operator's request had its whole window, and the key was still refused
    const f = await keyNotAccepted();
    f.clock.advanceHours(1);
    const asked = await rotateNow(f);
    const first = f.services.worker.handle(asked, 1);
    await hostTime(f, first);
    expect(errorCode(await first.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    f.clock.advance(30_000);

    // Act: the queue delivers the same job again
    const run = f.services.worker.handle(asked, 2);
    const lasted = await hostTime(f, run);

    // Assess
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(lasted).toBeLessThanOrEqual(31_000);
  });

  it('keeps the window it opened when the run crashes in it: the next delivery tests for what is left of it', async () => {
    // Prepare: the operator's run dies right after journaling the window it opens; its lease lapses 31 s on
    const f = await keyNotAccepted();
    f.clock.advanceHours(1);
    const asked = await rotateNow(f);
    f.faults.crashAfter(1);
    expect(await runSurvivingCrash(f, asked)).toBe('crashed');
    const { active } = (await f.journal.getState('demo-key')).state;
    expect(active).toMatchObject({ step: 'set', testWindowFrom: asked.requestedAt });
    f.clock.advance(31_000);

    // Act: the queue delivers the job again
    const run = f.services.worker.handle(asked, 2);
    const lasted = await hostTime(f, run);

    // Assess: the other 89 s of the operator's window, neither a last try nor a window reopened again
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(lasted).toBeGreaterThanOrEqual(88_000);
    expect(lasted).toBeLessThanOrEqual(90_000);
    expect(f.journal.steps.filter((s) => /test window reopened/.test(s.detail ?? ''))).toHaveLength(1);
  });

  it('opens one window for a request stamped by an instance whose clock is ahead: its redelivery opens none', async () => {
    // Prepare: the admin API's instance stamps the request 5 s ahead of the worker's clock; the window it
    // opens passes with the key still refused
    const f = await keyNotAccepted();
    f.clock.advanceHours(1);
    const asked = await rotateNow(f);
    f.clock.set(f.clock.now() - 5_000);
    const first = f.services.worker.handle(asked, 1);
    const firstLasted = await hostTime(f, first);
    expect(errorCode(await first.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(firstLasted).toBeLessThanOrEqual(121_000);
    f.clock.advance(30_000);

    // Act
    const run = f.services.worker.handle(asked, 2);
    const lasted = await hostTime(f, run);

    // Assess
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(lasted).toBeLessThanOrEqual(31_000);
  });

  it("gives a timer's job after the failure only the last try", async () => {
    // Prepare
    const f = await keyNotAccepted();
    f.clock.advanceHours(1);

    // Act
    const run = f.services.worker.handle({ ...job(), requestedAt: new Date(f.clock.now()).toISOString() }, 1);
    const lasted = await hostTime(f, run);

    // Assess
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(lasted).toBeLessThanOrEqual(31_000);
  });

  it('resumes the window of the set step, not a new one, for a redelivery of the request that started the rotation', async () => {
    // Prepare: the operator's request started the rotation; the run was cut 140 s into its 480-s test step
    const f = await dueEndpoint(480);
    f.probe.forceStatus = 401;
    const asked = await rotateNow(f);
    const regenerate = f.keys.holdNextRegenerate();
    const startedAt = f.clock.now();
    const first = f.services.worker.handle(asked, 1);
    await regenerate.reached;
    f.clock.advance(400_000);
    regenerate.release();
    await hostTime(f, first, startedAt);
    expect(errorCode(await first.catch((e: unknown) => e))).toBe('ROTATION_OUT_OF_TIME');

    // Act
    const run = f.services.worker.handle(asked, 2);
    const lasted = await hostTime(f, run);

    // Assess: what is left of the window since the set step, as for any redelivery
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(lasted).toBeGreaterThanOrEqual(330_000);
    expect(lasted).toBeLessThanOrEqual(341_000);
    expect(f.journal.steps.some((s) => /test window reopened/.test(s.detail ?? ''))).toBe(false);
  });

  it('journals the reopened window with a step record and says so in the log, naming no key', async () => {
    // Prepare
    const f = await keyNotAccepted();
    f.clock.advanceHours(1);
    const asked = await rotateNow(f);

    // Act
    const run = f.services.worker.handle(asked, 1);
    await hostTime(f, run);
    await run.catch(() => undefined);

    // Assess
    const { active } = (await f.journal.getState('demo-key')).state;
    expect(active?.testWindowFrom).toBe(asked.requestedAt);
    expect(f.journal.steps.at(-2)).toMatchObject({
      step: 'set',
      slot: 'Primary',
      rotationId: active?.rotationId,
    });
    expect(f.logs.some((l) => /rotate => test window reopened at an operator's request/.test(l))).toBe(true);
    const keys = f.keys.keysOf('demo-key');
    for (const key of [keys.Primary, keys.Secondary])
      expect([...f.logs, f.journal.dump()].join('\n')).not.toContain(key);
  });

  it('gives a key set again (the slot was regenerated outside the app) a whole window from that set step', async () => {
    // Prepare: the operator's run dies right after opening its window; 31 s on, someone regenerates the slot
    // in the portal
    const f = await keyNotAccepted();
    f.clock.advanceHours(1);
    const asked = await rotateNow(f);
    f.faults.crashAfter(1);
    expect(await runSurvivingCrash(f, asked)).toBe('crashed');
    f.clock.advance(31_000);
    f.keys.setKey('demo-key', 'Primary', 'regenerated-in-the-portal');

    // Act: the queue delivers the job again; the run sets the pending value again
    const run = f.services.worker.handle(asked, 2);
    const lasted = await hostTime(f, run);

    // Assess: the window of the new set step, not what was left of the operator's
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('NEW_KEY_NOT_ACCEPTED');
    expect(lasted).toBeGreaterThanOrEqual(120_000);
    expect(lasted).toBeLessThanOrEqual(121_000);
  });
});

describe('Class: KeyRotator (time budget of a run, sends in the stop margin)', () => {
  /** What the stop margin must keep free for the stop's journal write and lease release: half of it. */
  const WELL_INSIDE_MARGIN_MS = FUNCTION_TIMEOUT_MS - 30_000;

  it('ends a run stopped out of time well inside the stop margin when its RotationFailed send never answers, the event held for a retry', async () => {
    // Prepare: ARM's regenerate never finishes, and then Event Grid does not answer the failure's send
    const f = await dueEndpoint();
    f.keys.holdNextRegenerate();
    f.events.hangs = 'RotationFailed';
    const sendsBefore = f.events.signals.length;

    // Act
    const run = f.services.worker.handle(job(), 1);
    const lasted = await hostTime(f, run);

    // Assess: out of time as before, the host not killing it, the event handed to the sink to hold once the
    // send's bound passed
    await expectOutOfTimeBeforeHostTimeout(lasted, run);
    expect(lasted).toBeLessThanOrEqual(FUNCTION_TIMEOUT_MS - STOP_MARGIN_MS + STOP_SEND_MS);
    expect(lasted).toBeLessThan(WELL_INSIDE_MARGIN_MS);
    expect(f.events.signals[sendsBefore]?.aborted).toBe(true);
    expect(f.events.held.map((h) => h.event)).toEqual([
      expect.objectContaining({ type: 'RotationFailed', step: 'set', reason: 'ROTATION_OUT_OF_TIME' }),
    ]);
    const { state, lease } = await f.journal.getState('demo-key');
    expect(state.lastError).toMatchObject({ code: 'ROTATION_OUT_OF_TIME', step: 'set' });
    expect(lease).toBeUndefined();
  });

  it('ends such a run well inside the stop margin when the sink does not heed the signal either', async () => {
    // Prepare: a failure send that hangs whatever its signal says (a sink whose retry queue hangs)
    const f = await dueEndpoint();
    f.keys.holdNextRegenerate();
    f.events.hangs = 'RotationFailed';
    f.events.heedsSignal = false;

    // Act
    const run = f.services.worker.handle(job(), 1);
    const lasted = await hostTime(f, run);

    // Assess: the run went on once the sink had had its time to hold the event
    await expectOutOfTimeBeforeHostTimeout(lasted, run);
    expect(lasted).toBeLessThanOrEqual(FUNCTION_TIMEOUT_MS - STOP_MARGIN_MS + STOP_SEND_MS + HOLD_WITHIN_MS);
    expect(lasted).toBeLessThan(WELL_INSIDE_MARGIN_MS);
    expect(f.logs.some((l) => /publish => not settled in time.*type=RotationFailed/.test(l))).toBe(true);
    expect((await f.journal.getState('demo-key')).lease).toBeUndefined();
  });

  it('ends a run that found drift when its DriftDetected send never answers, the event held for a retry', async () => {
    // Prepare: Key Vault's current version was typed by hand; Event Grid does not answer the drift's send
    const f = await dueEndpoint();
    f.secrets.seed('demo-key-secret', 'typed-by-hand');
    f.events.hangs = 'DriftDetected';
    const sentBefore = f.events.events.length;

    // Act
    const run = f.services.rotator.run(job('manual'));
    const lasted = await hostTime(f, run);

    // Assess: refused as drift as before, in a few seconds; the drift event held, the failure event sent
    expect(lasted).toBeDefined();
    expect(lasted).toBeLessThanOrEqual(STOP_SEND_MS);
    expect(errorCode(await run.catch((e: unknown) => e))).toBe('DRIFT_DETECTED');
    expect(f.events.held.map((h) => h.event.type)).toEqual(['DriftDetected']);
    expect(f.events.events.slice(sentBefore).map((e) => e.type)).toEqual(['RotationFailed']);
    expect((await f.journal.getState('demo-key')).state.drift).toMatchObject({ detected: true });
  });
});
