import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { TableEndpointRegistry } from '../../../shared/endpoints/TableEndpointRegistry';
import { validateEndpoint } from '../../../shared/endpoints/validateEndpoint';
import { DependencyUnavailableError } from '../../../shared/errors';
import { createLogger, type Logger, silentLogger } from '../../../shared/logging';
import { ArmThrottledError } from '../../../shared/rotation/errors';
import { RotationScheduler } from '../../../shared/rotation/RotationScheduler';
import { PagedTable } from '../../fakes/PagedTable';
import { buildRotationFixture } from '../../fakes/rotation/buildRotationFixture';
import { CrashError } from '../../fakes/rotation/FaultPlan';
import { settle } from '../../support/waitFor';

const rules = { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24 };
const arm = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'ep' };

/**
 * A Table registry over `table` as of `nowMs`: a row for each of `ids.rows` (those in `ids.unreadable`
 * edited by hand into JSON it cannot read) and `ids.file` as ENDPOINTS_FILE entries.
 */
function registryWithFile(
  table: PagedTable,
  nowMs: number,
  ids: { rows: string[]; file: string[]; unreadable?: string[] },
  logger?: Logger,
): TableEndpointRegistry {
  const at = new Date(nowMs).toISOString();
  const valid = (id: string) => validateEndpoint({ id, arm: { ...arm, name: id } }, rules, at);
  for (const id of ids.rows)
    table.add({
      partitionKey: 'endpoint',
      rowKey: id,
      endpoint: ids.unreadable?.includes(id) ? '{"id": ' : JSON.stringify(valid(id)),
      secretName: id,
    });
  return new TableEndpointRegistry({
    table: table.asTableClient(),
    rules,
    endpointsFile: 'endpoints.json',
    readText: async () => JSON.stringify(ids.file.map((id) => ({ id, arm: { ...arm, name: id } }))),
    now: () => at,
    logger,
  });
}

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

    it('queues nothing for an endpoint whose kind or auth mode this version does not know, and counts it', async () => {
      // Prepare: during a rolling deployment a newer version registered both, never rotated (due at once if
      // this version knew them); its own timer rotates them, and a job queued here would only be put back
      const f = buildRotationFixture();
      f.addEndpoint({
        id: 'newer-kind',
        kind: 'managedComputeEndpoint',
      } as unknown as Partial<ManagedEndpoint>);
      f.addEndpoint({
        id: 'newer-auth',
        authMode: 'ManagedIdentityToken',
      } as unknown as Partial<ManagedEndpoint>);
      f.addEndpoint({ id: 'known-one' });

      // Act
      const result = await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess: the summary says why they were not queued, so an operator of this version can tell
      expect(result).toEqual({ due: 1, enqueued: 1, failed: 0 });
      expect(f.jobs.jobs.map((j) => j.endpointId)).toEqual(['known-one']);
      expect(f.logs.find((l) => l.includes('enqueueDue => done'))).toMatch(/endpoints=1 .*notKnownHere=2/);
    });

    it('queues nothing for a registration at the Azure ML endpoint of an ENDPOINTS_FILE entry, naming and counting it', async () => {
      // Prepare: a row registered before the file declared its endpoint (in another case), the entry, and another
      const f = buildRotationFixture();
      const place = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'scoring' };
      f.addEndpoint({ id: 'from-file', arm: place });
      f.registry.readOnly.add('from-file');
      f.addEndpoint({ id: 'old-row', arm: { ...place, workspace: 'WS1', name: 'Scoring' } });
      f.addEndpoint({ id: 'other-one' });

      // Act
      const result = await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess: the entry rotates the endpoint's keys; the row would rotate them against it
      expect(result).toEqual({ due: 2, enqueued: 2, failed: 0 });
      expect(f.jobs.jobs.map((j) => j.endpointId).sort()).toEqual(['from-file', 'other-one']);
      expect(f.logs.filter((l) => l.includes('ENDPOINTS_FILE'))).toEqual([
        'warn RotationScheduler => enqueueDue => endpoint declared in ENDPOINTS_FILE too, not rotated, DELETE it ' +
          'endpointId=old-row alsoRegisteredAs=from-file',
      ]);
      expect(f.logs.find((l) => l.includes('enqueueDue => done'))).toMatch(
        /endpoints=2 .* declaredInFile=1 declaredInFileIds=old-row elapsedMs=/,
      );
    });

    it('queues nothing for a registration with the Key Vault secret of an ENDPOINTS_FILE entry, counting it (the registry names it)', async () => {
      // Prepare: a row registered before the file declared its secret (in another case) for another endpoint
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'from-file', secretName: 'shared-secret' });
      f.registry.readOnly.add('from-file');
      f.addEndpoint({ id: 'old-row', secretName: 'SHARED-secret' });
      f.addEndpoint({ id: 'other-one' });

      // Act
      const result = await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess: the row would store its endpoint's keys over the entry's; the registry warns of it once per
      // process, not each tick
      expect(result).toEqual({ due: 2, enqueued: 2, failed: 0 });
      expect(f.jobs.jobs.map((j) => j.endpointId).sort()).toEqual(['from-file', 'other-one']);
      expect(f.logs.filter((l) => l.startsWith('warn'))).toEqual([]);
      expect(f.logs.find((l) => l.includes('enqueueDue => done'))).toMatch(
        /endpoints=2 .* declaredInFile=1 declaredInFileIds=old-row elapsedMs=/,
      );
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

      // Assess: drift-checked's job from the first tick is still waiting on the queue
      expect(working).toEqual({ due: 1, enqueued: 1, failed: 0 });
      expect(queuedWhileWorking).toEqual(['drift-checked']);
      expect(lapsed).toEqual({ due: 1, enqueued: 1, failed: 0 });
      expect(f.jobs.jobs.map((j) => j.endpointId).slice(1)).toEqual(['being-rotated']);
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
      // Retried by the queue, but each tick after would only make a 30-s last try and raise another alert
      f.addEndpoint({ id: 'key-refused' });
      f.journal.seedState('key-refused', failedWith('NEW_KEY_NOT_ACCEPTED'));
      const getCurrent = f.secrets.getCurrent.bind(f.secrets);
      f.secrets.getCurrent = async (name) => {
        if (name.startsWith('outage-hit')) throw new DependencyUnavailableError('keyVault', 'down');
        return getCurrent(name);
      };
      const ticks: string[][] = [];

      // Act: a tick every 15 minutes for a day and one more; the worker takes the outage's job, which fails again
      for (let tick = 0; tick <= 96; tick += 1) {
        f.jobs.jobs.length = 0;
        await f.services.scheduler.enqueueDue(f.clock.now());
        ticks.push(f.jobs.jobs.map((j) => j.endpointId).sort());
        for (const job of f.jobs.jobs.filter((j) => j.endpointId === 'outage-hit'))
          await f.services.rotator.run(job).catch(() => undefined);
        f.clock.advanceHours(0.25);
      }

      // Assess: the outage is retried on every tick, the drift once its day is over (the last tick)
      expect(ticks.every((ids) => ids.includes('outage-hit'))).toBe(true);
      expect(ticks.map((ids) => ids.includes('drifted')).lastIndexOf(false)).toBe(95);
      expect(ticks.filter((ids) => ids.includes('drifted'))).toHaveLength(1);
      expect(ticks.map((ids) => ids.includes('v1-key-auth-off'))).toEqual(
        ticks.map((ids) => ids.includes('drifted')),
      );
      expect(ticks.map((ids) => ids.includes('key-refused'))).toEqual(
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

    it('queues one job per due endpoint while the queue is not drained, and again once that job can no longer be waiting', async () => {
      // Prepare: a backlog that ARM throttling holds up: nothing is taken off the queue for an hour and more
      const f = buildRotationFixture();
      for (let i = 0; i < 50; i += 1) f.addEndpoint({ id: `backlog-${i}` });
      const perTick: number[] = [];

      // Act: a tick every 15 minutes (the default schedule) for an hour and a half
      for (let tick = 0; tick < 6; tick += 1) {
        const before = f.jobs.jobs.length;
        await f.services.scheduler.enqueueDue(f.clock.now());
        perTick.push(f.jobs.jobs.length - before);
        f.clock.advanceHours(0.25);
      }

      // Assess: the first tick's jobs wait and are not queued again; an hour on, a job still not taken
      // (a lost message) is queued once more
      expect(perTick).toEqual([50, 0, 0, 0, 50, 0]);
      expect(new Set(f.jobs.jobs.slice(0, 50).map((j) => j.endpointId)).size).toBe(50);
      expect(f.logs.filter((l) => l.includes('enqueueDue => done'))[1]).toMatch(
        /due=0 enqueued=0 failed=0 waiting=50/,
      );
    });

    it('queues again on the next tick once a run took the job and failed, and never for a run that finished', async () => {
      // Prepare: two never-rotated endpoints; Key Vault fails for one of them
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'kv-outage' });
      f.addEndpoint({ id: 'rotates-fine' });
      await f.services.scheduler.enqueueDue(f.clock.now());
      const getCurrent = f.secrets.getCurrent.bind(f.secrets);
      f.secrets.getCurrent = async (name) => {
        if (name.startsWith('kv-outage')) throw new Error('vault down');
        return getCurrent(name);
      };

      // Act: the worker takes both jobs (one fails), then the next tick
      for (const queued of f.jobs.jobs.splice(0)) await f.services.rotator.run(queued).catch(() => undefined);
      f.clock.advanceHours(0.25);
      await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess
      expect(f.jobs.jobs.map((j) => j.endpointId)).toEqual(['kv-outage']);
    });

    it('queues no other job while the worker has put the job back on the queue for ARM throttling', async () => {
      // Prepare: the run gets past create, then ARM throttles the regenerate; the worker puts the job back
      const f = buildRotationFixture();
      f.addEndpoint();
      await f.services.scheduler.enqueueDue(f.clock.now());
      f.keys.failNext('regenerateKey', new ArmThrottledError(30));
      const outcome = await f.services.worker.handle(f.jobs.jobs[0], 1);
      const queued = f.jobs.jobs.length;

      // Act: the next ticks, while the copy waits (a backlog holds it up)
      for (let tick = 0; tick < 3; tick += 1) {
        f.clock.advanceHours(0.25);
        await f.services.scheduler.enqueueDue(f.clock.now());
      }

      // Assess: the rotation is half-done (due), but its job is on the queue
      expect(outcome).toMatchObject({ status: 'skipped', reason: 'throttled' });
      expect((await f.journal.getState('demo-key')).state.active?.step).toBe('created');
      expect(queued).toBe(2);
      expect(f.jobs.jobs).toHaveLength(2);
    });

    it('queues a job again at the first tick after a run that took it died mid-rotation and its lease lapsed', async () => {
      // Prepare: the run dies right after it journaled its rotation's first step, which follows the onboarding's
      // Key Vault write (counted on an uninterrupted run)
      const reference = buildRotationFixture();
      reference.addEndpoint();
      await reference.services.rotator.run({ endpointId: 'demo-key', reason: 'schedule', requestedAt: '' });
      const { mutations } = reference.faults;
      const f = buildRotationFixture();
      f.addEndpoint();
      await f.services.scheduler.enqueueDue(f.clock.now());
      f.faults.crashAfter(
        mutations.indexOf('journal.write', mutations.indexOf('kv.set:demo-key-secret')) + 1,
      );
      await expect(f.services.worker.handle(f.jobs.jobs[0], 1)).rejects.toBeInstanceOf(CrashError);
      f.faults.revive();

      // Act: a tick while its lease holds, and the first after it lapsed (600 s)
      f.clock.advanceHours(0.1);
      const whileHeld = await f.services.scheduler.enqueueDue(f.clock.now());
      f.clock.advanceHours(0.25);
      const lapsed = await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess
      expect((await f.journal.getState('demo-key')).state.active?.step).toBe('started');
      expect(whileHeld).toMatchObject({ enqueued: 0 });
      expect(lapsed).toMatchObject({ enqueued: 1 });
    });

    it('queues an endpoint whose last rotation only Key Vault knows once, not on every tick until Key Vault says it is due', async () => {
      // Prepare: rotated an hour ago; then the journal was lost (table recreated), Key Vault's rotatedAt tag remains
      const f = buildRotationFixture();
      f.addEndpoint();
      await f.services.rotator.run({ endpointId: 'demo-key', reason: 'manual', requestedAt: '' });
      f.journal.seedState('demo-key', {});
      f.clock.advanceHours(1);
      const queued: string[] = [];
      const outcomes: unknown[] = [];
      const describes = () => f.keys.calls.filter((c) => c.startsWith('describe')).length;
      const describesBefore = describes();

      // Act: a tick every 15 minutes for 3 hours, the worker draining the queue after each
      for (let tick = 0; tick < 12; tick += 1) {
        await f.services.scheduler.enqueueDue(f.clock.now());
        for (const job of f.jobs.jobs.splice(0)) {
          queued.push(job.endpointId);
          outcomes.push(await f.services.worker.handle(job, 1));
        }
        f.clock.advanceHours(0.25);
      }
      const describesWhileNotDue = describes() - describesBefore;
      f.clock.advanceHours(100);
      await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess: one job, skipped as not due; queued again once the period since the rotation has passed
      expect(queued).toEqual(['demo-key']);
      expect(outcomes).toEqual([expect.objectContaining({ status: 'skipped', reason: 'notDue' })]);
      expect(describesWhileNotDue).toBe(1);
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
      const result = await f.services.scheduler.enqueueDue(f.clock.now());

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
    it('reads the registry a page at a time, checking a page before it reads the next', async () => {
      // Prepare: 250 endpoints; storage answers 60 at most a request, as Table storage may cut answers short
      const f = buildRotationFixture();
      for (let i = 0; i < 250; i += 1) f.addEndpoint({ id: `ep-${String(i).padStart(3, '0')}` });
      f.registry.serverPageLimit = 60;
      const asked: number[] = [];
      let handedOut = 0;
      let checked = 0;
      let mostHeld = 0;
      const listPage = f.registry.listPage.bind(f.registry);
      f.registry.listPage = async (request) => {
        const page = await listPage(request);
        asked.push(request.top);
        handedOut += page.items.length;
        mostHeld = Math.max(mostHeld, handedOut - checked);
        return page;
      };
      const getState = f.journal.getState.bind(f.journal);
      f.journal.getState = async (id) => ((checked += 1), getState(id));

      // Act
      const result = await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess: every endpoint once, never more than a page read and not yet checked
      expect(result).toEqual({ due: 250, enqueued: 250, failed: 0 });
      expect(new Set(f.jobs.jobs.map((j) => j.endpointId)).size).toBe(250);
      expect(asked).toHaveLength(5);
      expect(Math.max(...asked)).toBeLessThanOrEqual(100);
      expect(mostHeld).toBeLessThanOrEqual(60);
    });

    it('checks each endpoint of the Table registry once, ENDPOINTS_FILE entries merged between short pages', async () => {
      // Prepare: table rows, file entries before, between and after them, and one file entry over a row
      const f = buildRotationFixture();
      const table = Object.assign(new PagedTable(), { serverPageLimit: 7, emptyAnswers: 2 });
      const tableIds = Array.from({ length: 40 }, (_, i) => `ep-${String(i * 2).padStart(2, '0')}`);
      const fileIds = ['aa-file', 'ep-13', 'ep-20', 'zz-file'];
      const registry = registryWithFile(table, f.clock.now(), { rows: tableIds, file: fileIds });
      const checked: string[] = [];
      const getState = f.journal.getState.bind(f.journal);
      f.journal.getState = async (id) => (checked.push(id), getState(id));
      const scheduler = new RotationScheduler({
        registry,
        journal: f.journal,
        jobs: f.jobs,
        clock: f.clock,
        logger: silentLogger,
      });

      // Act
      const result = await scheduler.enqueueDue(f.clock.now());

      // Assess
      const every = [...new Set([...tableIds, ...fileIds])].sort();
      expect(checked.sort()).toEqual(every);
      expect(result).toEqual({ due: every.length, enqueued: every.length, failed: 0 });
      expect(Math.max(...table.asked)).toBeLessThanOrEqual(100);
    });

    it('counts the rows skipped as unreadable in its summary, naming the first five, and each is warned about once', async () => {
      // Prepare: 150 rows, 7 of them edited by hand, and file entries that cut the first page short of its rows
      // (so its last rows, two unreadable ones among them, are read again by the next page)
      const f = buildRotationFixture();
      const table = new PagedTable();
      const tableIds = Array.from({ length: 150 }, (_, i) => `ep-${String(i).padStart(3, '0')}`);
      const unreadable = ['ep-001', 'ep-003', 'ep-005', 'ep-007', 'ep-050', 'ep-098', 'ep-099'];
      const fileIds = Array.from({ length: 10 }, (_, i) => `ep-0${i}0-file`);
      const registryLines: string[] = [];
      const registry = registryWithFile(
        table,
        f.clock.now(),
        { rows: tableIds, file: fileIds, unreadable },
        createLogger('EndpointRegistry', (level, line) => registryLines.push(`${level} ${line}`)),
      );
      const lines: string[] = [];
      const scheduler = new RotationScheduler({
        registry,
        journal: f.journal,
        jobs: f.jobs,
        clock: f.clock,
        logger: createLogger('RotationScheduler', (level, line) => lines.push(`${level} ${line}`)),
      });

      // Act
      const result = await scheduler.enqueueDue(f.clock.now());

      // Assess: the others are queued; one summary line sums the skipped rows up for the tick
      expect(result).toEqual({ due: 153, enqueued: 153, failed: 0 });
      expect(lines.filter((l) => l.includes('enqueueDue => done'))).toEqual([
        expect.stringMatching(
          /^info RotationScheduler => enqueueDue => done endpoints=153 .* unreadable=7 unreadableIds=ep-001,ep-003,ep-005,ep-007,ep-050 elapsedMs=\d+$/,
        ),
      ]);
      // The listing's own warning, with what is wrong, once per row and tick, never twice
      const warned = registryLines.map((l) => /row skipped, unreadable endpointId=(\S+)/.exec(l)?.[1]);
      expect(warned).toEqual(unreadable);
    });

    it('logs how far a long round got once a minute, and how long the round took in its summary', async () => {
      // Prepare: each journal read takes a second (storage throttled), 200 endpoints, 16 at a time
      const f = buildRotationFixture();
      for (let i = 0; i < 200; i += 1) f.addEndpoint({ id: `ep-${String(i).padStart(3, '0')}` });
      const getState = f.journal.getState.bind(f.journal);
      f.journal.getState = async (id) => (f.clock.advance(1_000), getState(id));

      // Act
      await f.services.scheduler.enqueueDue(f.clock.now());

      // Assess: 200 s: three lines on the way, each naming the last endpoint taken, then the summary
      const progress = f.logs.filter((l) => l.includes('enqueueDue => in progress'));
      expect(progress).toHaveLength(3);
      expect(progress[0]).toMatch(
        /^info RotationScheduler => enqueueDue => in progress endpoints=\d+ disabled=0 due=\d+ enqueued=\d+ failed=0 waiting=0 through=ep-\d{3} elapsedMs=6\d{4}$/,
      );
      const summary = f.logs.find((l) => l.includes('enqueueDue => done'));
      expect(summary).toMatch(
        /endpoints=200 disabled=0 due=200 enqueued=200 failed=0 waiting=0 elapsedMs=200000$/,
      );
    });

    it('fails the round with the registry’s error when a page cannot be read, keeping the jobs queued before it', async () => {
      // Prepare: the second page's read fails (storage out of reach)
      const f = buildRotationFixture();
      for (let i = 0; i < 150; i += 1) f.addEndpoint({ id: `ep-${String(i).padStart(3, '0')}` });
      const listPage = f.registry.listPage.bind(f.registry);
      f.registry.listPage = async (request) => {
        if (request.after !== undefined) throw new DependencyUnavailableError('tableStorage', 'storage down');
        return listPage(request);
      };

      // Act
      const round = f.services.scheduler.enqueueDue(f.clock.now());

      // Assess: the first page's jobs are queued (and noted, so the next tick does not queue them again)
      await expect(round).rejects.toThrow('storage down');
      const queued = f.jobs.jobs.length;
      await settle();
      expect(queued).toBe(100);
      expect(f.jobs.jobs).toHaveLength(100);
      expect((await f.journal.getState('ep-099')).state.enqueuedAt).toBeDefined();
      expect(f.logs.some((l) => l.includes('enqueueDue => done'))).toBe(false);
      expect(f.logs.find((l) => l.includes('registry not read to the end'))).toMatch(
        /^warn RotationScheduler => enqueueDue => stopped, registry not read to the end endpoints=100 disabled=0 due=100 enqueued=100 failed=0 waiting=0 through=ep-099 elapsedMs=0 error=DependencyUnavailableError/,
      );
    });
  });
});
