import { buildRotationFixture } from '../../fakes/rotation/buildRotationFixture';

describe('Class: RotationScheduler', () => {
  describe('Method: enqueueDue', () => {
    it('enqueues never-rotated, overdue, half-done and event-unsent endpoints, and nothing else', async () => {
      // Prepare
      const f = buildRotationFixture();
      for (const id of ['never-rotated', 'recent-one', 'overdue-one', 'half-done', 'event-unsent'])
        f.addEndpoint({ id });
      f.addEndpoint({ id: 'token-one', authMode: 'AMLToken' });
      f.addEndpoint({ id: 'off-one', enabled: false });
      f.addEndpoint({ id: 'gone-one', retiredAt: '2025-01-01T00:00:00Z' });
      f.addEndpoint({
        id: 'v1-service',
        kind: 'v1WebService',
        v1: { computeType: 'ACI', region: 'westeurope' },
      });
      const hoursAgo = (h: number) => new Date(f.clock.now() - h * 3_600_000).toISOString();
      f.journal.seedState('recent-one', { lastRotatedAt: hoursAgo(10) });
      f.journal.seedState('overdue-one', { lastRotatedAt: hoursAgo(100) });
      f.journal.seedState('half-done', {
        lastRotatedAt: hoursAgo(1),
        active: {
          rotationId: 'r1',
          slot: 'Primary',
          step: 'created',
          reason: 'schedule',
          startedAt: hoursAgo(1),
        },
      });
      // Rotated an hour ago by a run that stopped before sending its KeyRotated event.
      f.journal.seedState('event-unsent', {
        lastRotatedAt: hoursAgo(1),
        unsentEvent: {
          eventId: 'e1',
          event: { type: 'KeyRotated', endpointId: 'event-unsent', secretName: 's', time: hoursAgo(1) },
        },
      });

      // Act
      const result = await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess
      expect(result).toEqual({ due: 5, enqueued: 5, failed: 0 });
      expect(f.jobs.jobs.map((j) => j.endpointId).sort()).toEqual([
        'event-unsent',
        'half-done',
        'never-rotated',
        'overdue-one',
        'v1-service',
      ]);
      expect(f.jobs.jobs.every((j) => j.reason === 'schedule')).toBe(true);
      const summary = f.logs.find((l) => l.includes('enqueueDue => done'));
      expect(summary).toMatch(/endpoints=7 disabled=1 due=5 enqueued=5 failed=0/);
    });

    it('enqueues a disabled endpoint only while its journal holds an unsent event, and a retired one never', async () => {
      // Prepare: both were parked right after a run finished their rotation and stopped before the send
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'off-unsent', enabled: false });
      f.addEndpoint({ id: 'gone-unsent', retiredAt: '2025-01-01T00:00:00Z' });
      f.addEndpoint({ id: 'off-overdue', enabled: false });
      const longAgo = new Date(f.clock.now() - 1000 * 3_600_000).toISOString();
      for (const id of ['off-unsent', 'gone-unsent'])
        f.journal.seedState(id, {
          lastRotatedAt: longAgo,
          unsentEvent: {
            eventId: `e-${id}`,
            event: { type: 'KeyRotated', endpointId: id, secretName: 's', time: longAgo },
          },
        });
      f.journal.seedState('off-overdue', { lastRotatedAt: longAgo });

      // Act
      const result = await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess
      expect(result).toEqual({ due: 1, enqueued: 1, failed: 0 });
      expect(f.jobs.jobs.map((j) => j.endpointId)).toEqual(['off-unsent']);
    });

    it('leaves an endpoint alone while a run holds its lease, and resumes it once that lease lapses', async () => {
      // Prepare: a half-done rotation whose run is at work, and a due endpoint under a drift check's lease
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'being-rotated' });
      f.addEndpoint({ id: 'drift-checked' });
      f.journal.seedState('being-rotated', {
        active: {
          rotationId: 'r1',
          slot: 'Primary',
          step: 'set',
          reason: 'manual',
          startedAt: new Date(f.clock.now()).toISOString(),
        },
      });
      await f.journal.acquireLease('being-rotated', 'run-1', 60_000);
      await f.journal.acquireLease('drift-checked', 'drift-1', 60_000);

      // Act: one tick while the run works, one after its lease lapsed (the run crashed)
      const working = await f.services.scheduler.enqueueDue(f.clock.now());
      const queuedWhileWorking = f.jobs.jobs.map((j) => j.endpointId);
      f.clock.advance(60_001);
      const lapsed = await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess
      expect(working).toEqual({ due: 1, enqueued: 1, failed: 0 });
      expect(queuedWhileWorking).toEqual(['drift-checked']);
      expect(lapsed).toEqual({ due: 2, enqueued: 2, failed: 0 });
      expect(
        f.jobs.jobs
          .map((j) => j.endpointId)
          .slice(1)
          .sort(),
      ).toEqual(['being-rotated', 'drift-checked']);
    });

    it('leaves a failure only a person can fix to the person for a day, and retries other failures every tick', async () => {
      // Prepare: both overdue; one failed on drift, one on an outage, a minute ago
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'drifted' });
      f.addEndpoint({ id: 'outage-hit' });
      const at = new Date(f.clock.now() - 60_000).toISOString();
      const failedWith = (code: string) => ({
        lastRotatedAt: new Date(f.clock.now() - 1_000 * 3_600_000).toISOString(),
        lastOutcome: 'failed' as const,
        lastOutcomeAt: at,
        lastError: { code, message: 'm', step: 'plan' as const, at },
      });
      f.addEndpoint({
        id: 'v1-key-auth-off',
        kind: 'v1WebService',
        v1: { computeType: 'ACI', region: 'westeurope' },
      });
      f.journal.seedState('drifted', failedWith('DRIFT_DETECTED'));
      f.journal.seedState('outage-hit', failedWith('DependencyUnavailable'));
      f.journal.seedState('v1-key-auth-off', failedWith('V1_KEY_AUTH_DISABLED'));
      const ticks: string[][] = [];

      // Act: a tick every 15 minutes for a day and one more
      for (let tick = 0; tick <= 96; tick += 1) {
        f.jobs.jobs.length = 0;
        await f.services.scheduler.enqueueDue(f.clock.now());
        ticks.push(f.jobs.jobs.map((j) => j.endpointId).sort());
        f.clock.advanceHours(0.25);
      }

      // Assess: the outage is retried on every tick, the drift once its day is over (the last tick)
      expect(ticks.every((ids) => ids.includes('outage-hit'))).toBe(true);
      expect(ticks.map((ids) => ids.includes('drifted')).lastIndexOf(false)).toBe(95);
      expect(ticks.filter((ids) => ids.includes('drifted'))).toHaveLength(1);
      expect(ticks.map((ids) => ids.includes('v1-key-auth-off'))).toEqual(
        ticks.map((ids) => ids.includes('drifted')),
      );
    });

    it('rotates a drifted endpoint on the next tick once a drift check finds the key a person wrote in sync', async () => {
      // Prepare: drift refused a rotation; then a person wrote the endpoint's key, and its event ran a check
      const f = buildRotationFixture();
      f.addEndpoint();
      await f.services.rotator.run({ endpointId: 'demo-key', reason: 'manual', requestedAt: '' });
      f.secrets.seed('demo-key-secret', 'typed-by-hand');
      f.clock.advanceHours(800);
      await f.services.worker.handle({ endpointId: 'demo-key', reason: 'schedule' }, 1);
      await f.services.scheduler.enqueueDue(f.clock.now());
      const whileDrifted = f.jobs.jobs.length;
      f.secrets.seed('demo-key-secret', f.keys.keysOf('demo-key').Primary);
      await expect(f.services.drift.check('demo-key')).resolves.toMatchObject({ status: 'inSync' });

      // Act
      await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess
      expect(whileDrifted).toBe(0);
      expect(f.jobs.jobs.map((j) => j.endpointId)).toEqual(['demo-key']);
    });

    it('keeps going when one endpoint cannot be read', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'first-one' });
      f.addEndpoint({ id: 'second-one' });
      const getState = f.journal.getState.bind(f.journal);
      f.journal.getState = async (id) => {
        if (id === 'first-one') throw new Error('table down');
        return getState(id);
      };

      // Act
      const result = await f.services.scheduler.enqueueDue(new Date(f.clock.now()));

      // Assess
      expect(result).toEqual({ due: 1, enqueued: 1, failed: 1 });
      expect(f.logs.some((l) => l.includes('endpoint skipped this round') && l.includes('first-one'))).toBe(
        true,
      );
    });

    it('fails the round when no endpoint could be checked or enqueued, so the timer run shows as failed', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'first-one' });
      f.addEndpoint({ id: 'second-one' });
      f.journal.getState = () => Promise.reject(new Error('table down'));

      // Act
      const round = f.services.scheduler.enqueueDue(f.clock.now());

      // Assess
      await expect(round).rejects.toMatchObject({
        code: 'DependencyUnavailable',
        message: 'No endpoint could be checked or enqueued this round (2 failed); the next tick tries again.',
      });
      expect(f.logs.find((l) => l.includes('enqueueDue => done'))).toMatch(/due=0 enqueued=0 failed=2/);
    });
  });
});
