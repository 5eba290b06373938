import type { RotationJob } from '../../../shared/rotation/RotationJob';
import { buildRotationFixture } from '../../fakes/rotation/buildRotationFixture';

const job = (endpointId: string): RotationJob => ({
  endpointId,
  reason: 'manual',
  requestedAt: '2026-01-01T00:00:00Z',
});

describe('Module: rotation (secret hygiene)', () => {
  it('never puts a key into a log line, journal row, telemetry item, event or error', async () => {
    // Prepare: onboarding, rotations, a rejected key value, a failing test step, drift and an ARM error
    const f = buildRotationFixture({ testTimeoutSeconds: 5 });
    f.addEndpoint({ id: 'one-ep' });
    f.addEndpoint({ id: 'two-ep' });
    const errors: unknown[] = [];
    const run = async (id: string) =>
      f.services.rotator.run(job(id)).catch((e: unknown) => void errors.push(e));

    // Act
    await run('one-ep');
    await run('two-ep');
    f.clock.advanceHours(100);
    f.keys.rejectKeyValues = true;
    await run('one-ep');
    f.keys.rejectKeyValues = false;
    f.probe.forceStatus = 403;
    await run('two-ep');
    f.probe.forceStatus = undefined;
    f.keys.failNext('regenerateKey', Object.assign(new Error('boom'), { statusCode: 500 }));
    f.clock.advanceHours(200);
    await run('one-ep');
    await run('two-ep');
    f.secrets.seed('two-ep-secret', 'hand-typed-secret');
    f.clock.advanceHours(200);
    await run('two-ep');
    await f.services.drift.check('two-ep');
    const statuses = await Promise.all(['one-ep', 'two-ep'].map((id) => f.services.admin.status(id)));

    // Assess
    expect(errors.map((e) => (e as { code?: string }).code ?? (e as Error).name)).toEqual([
      'NEW_KEY_NOT_ACCEPTED',
      'Error',
      'DRIFT_DETECTED',
    ]);
    const secrets = new Set([...f.keys.allKeys, ...f.secrets.writtenValues]);
    expect(secrets.size).toBeGreaterThan(6);
    const haystack = [
      ...f.logs,
      f.journal.dump(),
      JSON.stringify(f.telemetry.events),
      JSON.stringify(f.telemetry.metrics),
      JSON.stringify(f.events.events),
      JSON.stringify(statuses),
      ...errors.map((e) => `${String(e)} ${JSON.stringify(e)}`),
    ].join('\n');
    expect(haystack).toContain('one-ep');
    for (const secret of secrets) expect(haystack).not.toContain(secret);
  });
});
