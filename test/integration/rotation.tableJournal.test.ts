import { TableClient } from '@azure/data-tables';
import { HttpRequest, InvocationContext } from '@azure/functions';

import { manageEndpointHandler } from '../../functions/manageEndpoint';
import { manageEndpointRotateHandler } from '../../functions/manageEndpointRotate';
import { type RunningAzurite, startAzurite } from '../../local/azurite';
import { realSleep, systemClock } from '../../shared/clock';
import { validateEndpoint } from '../../shared/endpoints/validateEndpoint';
import { TableRotationJournal } from '../../shared/rotation/adapters/TableRotationJournal';
import { EndpointAdminService } from '../../shared/rotation/EndpointAdminService';
import { LeaseLostError } from '../../shared/rotation/errors';
import type { JournalEntry } from '../../shared/rotation/RotationJournal';
import { FakeClock } from '../fakes/FakeClock';
import { InMemoryEndpointRegistry } from '../fakes/rotation/InMemoryEndpointRegistry';
import { InMemoryRotationJobQueue } from '../fakes/rotation/InMemoryRotationJobQueue';
import { InMemorySecretStore } from '../fakes/rotation/InMemorySecretStore';
import { FlakyTableWrites } from '../support/FlakyTableWrites';
import { journalReader } from '../support/storageTables';

const TTL = 60_000;
/** The app's `TABLE_PREFIX` for this test's tables; the journal table is `<prefix>RotationJournal`. */
const PREFIX = 'fenced';

/** The fenced journal write against Azurite through the real TableClient (entity group transactions). */
describe('Class: TableRotationJournal', () => {
  let azurite: RunningAzurite;
  let journal: TableRotationJournal;
  let reader: ReturnType<typeof journalReader>;
  const flaky = new FlakyTableWrites();

  beforeAll(async () => {
    azurite = await startAzurite();
    const table = TableClient.fromConnectionString(azurite.connectionString, `${PREFIX}RotationJournal`, {
      allowInsecureConnection: true,
      retryOptions: { retryDelayInMs: 10 },
      additionalPolicies: [{ policy: flaky.policy, position: 'perRetry' }],
    });
    journal = new TableRotationJournal({ table, clock: systemClock, sleep: realSleep });
    reader = journalReader(azurite.connectionString, PREFIX);
  }, 60_000);

  afterAll(async () => {
    await azurite?.stop();
  });

  const entry = (step: 'created' | 'set', rotationId = 'r1'): JournalEntry => ({
    state: { active: { rotationId, slot: 'Secondary', step, reason: 'manual', startedAt: 'then' } },
    step: { rotationId, step, at: new Date().toISOString(), slot: 'Secondary' },
  });

  describe('Method: write', () => {
    it('writes the state and step rows and renews the lease in one go', async () => {
      // Prepare
      const lease = await journal.acquireLease('ep-lands', 'run-a', TTL);

      // Act
      const renewed = await journal.write(lease!, TTL, entry('created'));
      const again = await journal.write(renewed, TTL, entry('set'));

      // Assess
      expect(renewed.etag).not.toBe(lease!.etag);
      expect(again.etag).not.toBe(renewed.etag);
      expect((await reader.state('ep-lands')).active?.step).toBe('set');
      expect((await reader.steps('ep-lands')).map((s) => s.step)).toEqual(['created', 'set']);
      expect((await journal.getState('ep-lands')).lease).toMatchObject({ owner: 'run-a' });
    });

    it('refuses the write of a run whose lapsed lease another run took, and writes none of it', async () => {
      // Prepare: run-a's lease lapses and run-b takes it and journals its own step
      const lapsed = await journal.acquireLease('ep-taken', 'run-a', 1);
      await realSleep(5);
      const taken = await journal.acquireLease('ep-taken', 'run-b', TTL);
      await journal.write(taken!, TTL, entry('created', 'r-b'));

      // Act
      const error = await journal.write(lapsed!, TTL, entry('set', 'r-a')).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(LeaseLostError);
      expect((await reader.state('ep-taken')).active).toMatchObject({ rotationId: 'r-b', step: 'created' });
      expect((await reader.steps('ep-taken')).map((s) => s.rotationId)).toEqual(['r-b']);
      expect((await journal.getState('ep-taken')).lease).toMatchObject({ owner: 'run-b' });
    });

    it('refuses a retried write that would land after another run took the lapsed lease', async () => {
      // Prepare: run-a's first attempt fails to connect; its lease lapses and run-b takes it before the retry
      const lapsed = await journal.acquireLease('ep-retry-late', 'run-a', 1);
      flaky.failNextWriteAfter(async () => {
        await realSleep(5);
        await journal.acquireLease('ep-retry-late', 'run-b', TTL);
      });

      // Act
      const error = await journal.write(lapsed!, TTL, entry('set')).catch((e: unknown) => e);

      // Assess
      expect(flaky.pending).toBe(false);
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(await reader.state('ep-retry-late')).toEqual({});
      expect(await reader.steps('ep-retry-late')).toEqual([]);
    });

    it('refuses the write when the lease row is gone', async () => {
      // Prepare: run-a's lease lapses; run-b takes it and gives it up
      const lapsed = await journal.acquireLease('ep-gone', 'run-a', 1);
      await realSleep(5);
      await journal.releaseLease((await journal.acquireLease('ep-gone', 'run-b', TTL))!);

      // Act / Assess
      await expect(journal.write(lapsed!, TTL, entry('set'))).rejects.toBeInstanceOf(LeaseLostError);
      expect(await reader.state('ep-gone')).toEqual({});
    });

    it('counts a transaction that landed but whose answer was lost as written, once', async () => {
      // Prepare: the SDK retries the dropped transaction, which then finds its own lease row changed
      const lease = await journal.acquireLease('ep-retried', 'run-a', TTL);
      flaky.dropNextAnswer();

      // Act
      const renewed = await journal.write(lease!, TTL, entry('created'));

      // Assess: the renewed lease is the one stored, so the run carries on writing
      expect(flaky.pending).toBe(false);
      await journal.write(renewed, TTL, entry('set'));
      expect((await reader.steps('ep-retried')).map((s) => s.step)).toEqual(['created', 'set']);
    });
  });
  describe('Method: renewLease', () => {
    it('extends the lease it holds', async () => {
      // Prepare
      const lease = await journal.acquireLease('ep-renew', 'run-a', 1_000);

      // Act
      const renewed = await journal.renewLease(lease!, TTL);

      // Assess
      expect(renewed.expiresAt).toBeGreaterThan(lease!.expiresAt);
      expect((await journal.getState('ep-renew')).lease).toEqual({
        owner: 'run-a',
        expiresAt: renewed.expiresAt,
      });
    });

    it('refuses to renew a lapsed lease another run took', async () => {
      // Prepare
      const lapsed = await journal.acquireLease('ep-renew-taken', 'run-a', 1);
      await realSleep(5);
      await journal.acquireLease('ep-renew-taken', 'run-b', TTL);

      // Act / Assess
      await expect(journal.renewLease(lapsed!, TTL)).rejects.toBeInstanceOf(LeaseLostError);
      expect((await journal.getState('ep-renew-taken')).lease).toMatchObject({ owner: 'run-b' });
    });

    it('counts a renewal that landed but whose answer was lost as renewed, so the run keeps its lease', async () => {
      // Prepare
      const lease = await journal.acquireLease('ep-renew-retried', 'run-a', TTL);
      flaky.dropNextAnswer();

      // Act
      const renewed = await journal.renewLease(lease!, TTL);

      // Assess: the run carries on writing with the renewed lease
      expect(flaky.pending).toBe(false);
      await journal.write(renewed, TTL, entry('created'));
      expect((await reader.steps('ep-renew-retried')).map((s) => s.step)).toEqual(['created']);
    });

    it('retries a renewal that failed to connect', async () => {
      // Prepare
      const lease = await journal.acquireLease('ep-renew-refused', 'run-a', TTL);
      flaky.failNextWriteAfter(async () => undefined);

      // Act
      const renewed = await journal.renewLease(lease!, TTL);

      // Assess
      expect(flaky.pending).toBe(false);
      expect((await journal.getState('ep-renew-refused')).lease).toEqual({
        owner: 'run-a',
        expiresAt: renewed.expiresAt,
      });
    });
  });

  describe('Method: acquireLease', () => {
    it('holds the lease it created even when the answer to the create was lost', async () => {
      // Prepare: the SDK retries the dropped create, which then finds the row there (409)
      flaky.dropNextAnswer();

      // Act
      const lease = await journal.acquireLease('ep-acquire-retried', 'run-a', TTL);

      // Assess
      expect(flaky.pending).toBe(false);
      expect(lease).toMatchObject({ owner: 'run-a' });
      await journal.write(lease!, TTL, entry('created'));
      expect((await journal.getState('ep-acquire-retried')).lease).toMatchObject({ owner: 'run-a' });
    });

    it('holds a lapsed lease it took over even when the answer to the replace was lost', async () => {
      // Prepare: the SDK retries the dropped replace, which then finds the row changed (412)
      await journal.acquireLease('ep-takeover-retried', 'run-a', 1);
      await realSleep(5);
      flaky.dropNextAnswer();

      // Act
      const lease = await journal.acquireLease('ep-takeover-retried', 'run-b', TTL);

      // Assess
      expect(flaky.pending).toBe(false);
      expect(lease).toMatchObject({ owner: 'run-b' });
      await expect(journal.write(lease!, TTL, entry('created', 'r-b'))).resolves.toMatchObject({
        owner: 'run-b',
      });
    });

    it('leaves the lease to the run whose create came first', async () => {
      // Prepare: run-b creates the row between run-a's read and run-a's create
      flaky.failNextWriteAfter(async () => {
        await journal.acquireLease('ep-acquire-race', 'run-b', TTL);
      });

      // Act
      const lease = await journal.acquireLease('ep-acquire-race', 'run-a', TTL);

      // Assess
      expect(flaky.pending).toBe(false);
      expect(lease).toBeUndefined();
      expect((await journal.getState('ep-acquire-race')).lease).toMatchObject({ owner: 'run-b' });
    });
  });

  describe('Method: markEnqueued', () => {
    it('sets enqueuedAt in the state row and keeps the rest of it', async () => {
      // Prepare: a run journaled a step and stopped
      const lease = await journal.acquireLease('ep-mark', 'run-a', TTL);
      await journal.releaseLease(await journal.write(lease!, TTL, entry('created')));

      // Act
      const marked = await journal.markEnqueued('ep-mark', '2026-01-01T00:15:00.000Z');
      const fresh = await journal.markEnqueued('ep-mark-new', '2026-01-01T00:15:00.000Z');

      // Assess
      expect([marked, fresh]).toEqual([true, true]);
      expect((await journal.getState('ep-mark')).state).toEqual({
        ...entry('created').state,
        enqueuedAt: '2026-01-01T00:15:00.000Z',
      });
      expect(await reader.state('ep-mark-new')).toEqual({ enqueuedAt: '2026-01-01T00:15:00.000Z' });
    });

    it("gives the mark up when a run writes the state row between the timer's read and its write", async () => {
      // Prepare: one endpoint with a state row, one without; a run journals each just before the mark lands
      const first = await journal.acquireLease('ep-mark-race', 'run-a', TTL);
      const held = await journal.write(first!, TTL, entry('created'));
      flaky.beforeNextWrite(async () => void (await journal.write(held, TTL, entry('set'))));
      const marked = await journal.markEnqueued('ep-mark-race', '2026-01-01T00:15:00.000Z');
      const other = await journal.acquireLease('ep-mark-race-new', 'run-b', TTL);
      flaky.beforeNextWrite(async () => void (await journal.write(other!, TTL, entry('created'))));

      // Act
      const created = await journal.markEnqueued('ep-mark-race-new', '2026-01-01T00:15:00.000Z');

      // Assess: the runs' writes stand
      expect(flaky.pending).toBe(false);
      expect([marked, created]).toEqual([false, false]);
      expect(await reader.state('ep-mark-race')).toEqual(entry('set').state);
      expect(await reader.state('ep-mark-race-new')).toEqual(entry('created').state);
    });
  });

  /**
   * The admin API over this journal for one registered endpoint, and its `POST …/rotate` and `GET` as the host
   * calls them.
   */
  const adminApi = (id: string) => {
    const rules = { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24 };
    const registry = new InMemoryEndpointRegistry();
    const arm = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: id };
    const endpoint = validateEndpoint({ id, arm }, rules, new Date().toISOString());
    registry.endpoints.set(endpoint.id, endpoint);
    const jobs = new InMemoryRotationJobQueue();
    const admin = new EndpointAdminService({
      registry,
      journal,
      secrets: new InMemorySecretStore(new FakeClock()),
      jobs,
      clock: systemClock,
      rules,
    });
    const url = `http://localhost:7071/api/manage/endpoints/${id}`;
    const context = () => new InvocationContext({ invocationId: `inv-${id}`, logHandler: () => undefined });
    const rotate = () =>
      manageEndpointRotateHandler(() => ({ admin }))(
        new HttpRequest({ method: 'POST', url: `${url}/rotate`, params: { id } }),
        context(),
      );
    const status = () =>
      manageEndpointHandler(() => ({ admin }))(
        new HttpRequest({ method: 'GET', url, params: { id } }),
        context(),
      );
    return { jobs, rotate, status };
  };

  describe('Methods: markManualRotation, clearManualRotation', () => {
    const note = (requestId: string, queuedAt = '2026-01-01T00:15:00.000Z') => ({ requestId, queuedAt });
    const always = () => true;

    it('lets exactly one of two racing requests note itself; the other gets its time', async () => {
      // Prepare: a run journaled a step and stopped
      const lease = await journal.acquireLease('ep-manual-race', 'run-a', TTL);
      await journal.releaseLease(await journal.write(lease!, TTL, entry('created')));

      // Act
      const answers = await Promise.all([
        journal.markManualRotation('ep-manual-race', note('req-a', '2026-01-01T00:15:00.000Z'), always),
        journal.markManualRotation('ep-manual-race', note('req-b', '2026-01-01T00:15:00.001Z'), always),
      ]);

      // Assess: the row holds the winner's note beside what the run wrote; the loser was told the winner's time
      const { queuedManual, ...rest } = await reader.state('ep-manual-race');
      expect(rest).toEqual(entry('created').state);
      expect(answers.filter((a) => a === undefined)).toHaveLength(1);
      expect(answers).toContain(queuedManual?.queuedAt);
    });

    it('counts a note whose answer was lost as its own, and replaces one that no longer waits', async () => {
      // Prepare: an old note that `waits` says has lapsed
      await journal.markManualRotation('ep-manual-lost', note('req-old'), always);
      flaky.dropNextAnswer();

      // Act
      const answer = await journal.markManualRotation('ep-manual-lost', note('req-new'), () => false);

      // Assess
      expect(flaky.pending).toBe(false);
      expect(answer).toBeUndefined();
      expect((await reader.state('ep-manual-lost')).queuedManual).toEqual(note('req-new'));
    });

    it("reads again when a run writes the state row between the note's read and its write, keeping the run's write", async () => {
      // Prepare
      const first = await journal.acquireLease('ep-manual-run', 'run-a', TTL);
      const held = await journal.write(first!, TTL, entry('created'));
      flaky.beforeNextWrite(async () => void (await journal.write(held, TTL, entry('set'))));

      // Act
      const answer = await journal.markManualRotation('ep-manual-run', note('req-a'), always);

      // Assess
      expect(flaky.pending).toBe(false);
      expect(answer).toBeUndefined();
      expect(await reader.state('ep-manual-run')).toEqual({
        ...entry('set').state,
        queuedManual: note('req-a'),
      });
    });

    it("drops its own request's note only, and leaves the rest of the row", async () => {
      // Prepare
      await journal.markManualRotation('ep-manual-clear', note('req-a'), always);

      // Act
      await journal.clearManualRotation('ep-manual-clear', 'req-other');
      const kept = await reader.state('ep-manual-clear');
      await journal.clearManualRotation('ep-manual-clear', 'req-a');
      await journal.clearManualRotation('ep-manual-none', 'req-a');

      // Assess
      expect(kept.queuedManual).toEqual(note('req-a'));
      expect(await reader.state('ep-manual-clear')).toEqual({});
      expect(await reader.state('ep-manual-none')).toEqual({});
    });

    it('answers one of two POST …/rotate sent at once 202 and the other 409 ROTATION_ALREADY_QUEUED naming when, queueing one job', async () => {
      // Prepare: the admin API over this journal
      const { jobs, rotate } = adminApi('ep-manual-http');

      // Act
      const answers = await Promise.all([rotate(), rotate()]);

      // Assess
      expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
      expect(jobs.jobs).toHaveLength(1);
      const [job] = jobs.jobs;
      const refused = answers.find((a) => a.status === 409)!;
      expect((refused.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
      expect(JSON.parse(refused.body as string)).toMatchObject({
        status: 409,
        code: 'ROTATION_ALREADY_QUEUED',
        detail: `A manual rotation of endpoint ep-manual-http was queued at ${job!.requestedAt} and has not run yet; its outcome shows in the endpoint's status.`,
      });
      expect((await reader.state('ep-manual-http')).queuedManual).toEqual({
        requestId: job!.requestId,
        queuedAt: job!.requestedAt,
      });
    });
    it("answers POST …/rotate 409 ROTATION_ALREADY_QUEUED while the timer's job waits (its mark in the Table row), naming when, and queues nothing", async () => {
      // Prepare: the admin API over this journal; the timer queued a job for the endpoint and marked the row
      const { jobs, rotate, status } = adminApi('ep-timer-http');
      const queuedAt = new Date(Date.now() - 60_000).toISOString();
      expect(await journal.markEnqueued('ep-timer-http', queuedAt)).toBe(true);

      // Act
      const shown = await status();
      const refused = await rotate();

      // Assess: the status names the job the 409 names, read from the same Table row
      expect(shown.status).toBe(200);
      expect(shown.jsonBody).toMatchObject({ rotationQueued: { queuedAt, queuedBy: 'timer' } });
      expect(refused.status).toBe(409);
      expect(JSON.parse(refused.body as string)).toMatchObject({
        status: 409,
        code: 'ROTATION_ALREADY_QUEUED',
        detail:
          `A rotation job for endpoint ep-timer-http was queued at ${queuedAt} (by the rotation timer, or put back ` +
          `on the queue by the worker) and has not run yet; its outcome shows in the endpoint's status.`,
      });
      expect(jobs.jobs).toEqual([]);
      expect(await reader.state('ep-timer-http')).toEqual({ enqueuedAt: queuedAt });
    });
  });

  describe('Method: releaseLease', () => {
    it('frees the lease even when the answer to the delete was lost', async () => {
      // Prepare
      const lease = await journal.acquireLease('ep-release-retried', 'run-a', TTL);
      flaky.dropNextAnswer();

      // Act
      await journal.releaseLease(lease!);

      // Assess
      expect(flaky.pending).toBe(false);
      expect((await journal.getState('ep-release-retried')).lease).toBeUndefined();
      expect(await journal.acquireLease('ep-release-retried', 'run-b', TTL)).toMatchObject({
        owner: 'run-b',
      });
    });
  });
});
