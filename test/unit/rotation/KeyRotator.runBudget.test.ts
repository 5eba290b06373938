import { join } from 'node:path';

import { readHostJson } from '../../../local/host/hostJson';
import { errorCode } from '../../../shared/rotation/errors';
import type { RotationJob } from '../../../shared/rotation/RotationJob';
import { buildRotationFixture, type RotationFixture } from '../../fakes/rotation/buildRotationFixture';
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
});
