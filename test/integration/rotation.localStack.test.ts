import { HttpRequest, InvocationContext } from '@azure/functions';

import { manageEndpointHandler } from '../../functions/manageEndpoint';
import { manageEndpointRotateHandler } from '../../functions/manageEndpointRotate';
import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { RunningEmulators } from '../../local/emulators';
import { AzureClients } from '../../shared/azureClients';
import type { Clock } from '../../shared/clock';
import { type AppConfig, loadConfig } from '../../shared/config';
import type { ManagedEndpoint } from '../../shared/endpoints/ManagedEndpoint';
import { KeyNotAcceptedError } from '../../shared/rotation/errors';
import { createRotationModule, type RotationModule } from '../../shared/rotation/module';
import type { RotationJob } from '../../shared/rotation/RotationJob';
import type { RotationJournal } from '../../shared/rotation/RotationJournal';
import { noopTelemetry } from '../../shared/telemetry';
import { CapturingRotationEventSink } from '../fakes/rotation/CapturingRotationEventSink';
import { CrashError } from '../fakes/rotation/FaultPlan';
import { standInSettings, useEmulatorIdentity, withEmulators } from '../support/emulators';
import { standInVaultClient, startProbeClient } from '../support/probeClient';
import { journalReader } from '../support/storageTables';
import { sleep, waitFor } from '../support/waitFor';

/**
 * Rotation with its real adapters (Key Vault, ARM online endpoints, fetch to the scoring URI, Table
 * storage and queues on Azurite) against the local stand-ins. Needs NODE_EXTRA_CA_CERTS (set by `npm test`).
 */
const SUB = '00000000-0000-0000-0000-0000000000r1';
const WS = { subscriptionId: SUB, resourceGroup: 'rg-rot', workspace: 'ws-rot' };
const GRACE_HOURS = 0.0003; // ~1 s: long enough to prove the rule, short enough for 20 rotations

/** Waits until the slot a rotation just left is out of its grace period. */
const pastGrace = (): Promise<void> => sleep(GRACE_HOURS * 3_600_000 + 100);

jest.setTimeout(120_000);

describe('Rotation on the local stack', () => {
  let emulators: RunningEmulators;
  let azurite: RunningAzurite;
  let config: AppConfig;
  let restoreEnv: () => void = () => undefined;
  const logs: string[] = [];
  const events = new CapturingRotationEventSink();

  /**
   * A process: its own clients (credential, token cache) and module; `clock` may run ahead to expire leases,
   * `leaseSeconds` replaces the configured lease.
   */
  function process_(
    options: {
      clock?: Clock;
      decorateJournal?: (j: RotationJournal) => RotationJournal;
      leaseSeconds?: number;
    } = {},
  ): RotationModule {
    const { clock = { now: () => Date.now() }, decorateJournal, leaseSeconds } = options;
    const processConfig = leaseSeconds
      ? { ...config, rotation: { ...config.rotation, leaseSeconds } }
      : config;
    const root = {
      config: processConfig,
      clients: new AzureClients(processConfig),
      telemetry: noopTelemetry,
      clock,
    };
    return createRotationModule(root, {
      events,
      logSink: (level, line) => logs.push(`${level} ${line}`),
      armPollIntervalMs: 50,
      ...(decorateJournal ? { decorateJournal } : {}),
    });
  }

  async function register(
    module: RotationModule,
    name: string,
    authMode: 'Key' | 'AMLToken' = 'Key',
  ): Promise<ManagedEndpoint> {
    emulators.control.addOnlineEndpoint({ ...WS, name, authMode });
    return module.admin.register({
      id: name,
      arm: { ...WS, name },
      authMode,
      secretName: `${name}-secret`,
      gracePeriodHours: GRACE_HOURS,
      rotationPeriodHours: 1,
    });
  }

  const job = (endpointId: string): RotationJob => ({
    endpointId,
    reason: 'manual',
    requestedAt: new Date().toISOString(),
  });

  /** Runs manual jobs until one rotates (waiting out the short grace period). */
  async function rotateOnce(module: RotationModule, endpointId: string): Promise<void> {
    for (;;) {
      const outcome = await module.rotator.run(job(endpointId));
      if (outcome.status === 'rotated') return;
      expect(outcome).toMatchObject({ status: 'skipped', reason: 'inGrace' });
      await sleep(250);
    }
  }

  const coords = (name: string) => ({ ...WS, name });

  beforeAll(async () => {
    [emulators, azurite] = await Promise.all([withEmulators(), startAzurite()]);
    restoreEnv = useEmulatorIdentity(emulators);
    emulators.control.addWorkspace(WS);
    emulators.control.setRegenerateDelayMs(50);
    config = loadConfig({
      ...standInSettings(emulators, azurite, 'rot'),
      ROTATION_PERIOD_HOURS: '1',
      ROTATION_GRACE_HOURS: '0',
      ROTATION_MIN_GRACE_HOURS: '0',
      ROTATION_LEASE_SECONDS: '30',
      ROTATION_TEST_TIMEOUT_SECONDS: '3',
    });
  });

  afterAll(async () => {
    restoreEnv();
    await Promise.all([emulators?.stop(), azurite?.stop()]);
  });

  afterEach(() => emulators.control.clearFaults());

  it('a regenerate that outlasts the lease keeps it: a second process finds the rotation in progress', async () => {
    // Prepare: a 10-s lease (the smallest allowed) and a regenerate whose long-running operation takes 13 s.
    // First in the file: the SDK's poller leaves a timer of one Retry-After (13 s) running after the LRO is done.
    const a = process_({ leaseSeconds: 10 });
    const b = process_({ leaseSeconds: 10 });
    const endpoint = await register(a, 'slow-regenerate');
    await a.rotator.run(job(endpoint.id));
    await pastGrace();
    const before = emulators.control.counters()['arm.regenerateKeys'] ?? 0;
    emulators.control.setRegenerateDelayMs(13_000);

    try {
      // Act: b tries 11 s after a's regenerate started, when a's last journal write is over 10 s old
      const slow = a.rotator.run(job(endpoint.id));
      const started = (): boolean => (emulators.control.counters()['arm.regenerateKeys'] ?? 0) > before;
      await waitFor('the regenerate to start', started, { intervalMs: 20 });
      await sleep(11_000);
      const second = await b.rotator.run(job(endpoint.id));
      const outcome = await slow;

      // Assess
      expect(second).toMatchObject({ status: 'skipped', reason: 'inProgress' });
      expect(outcome).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: false });
      expect((emulators.control.counters()['arm.regenerateKeys'] ?? 0) - before).toBe(1);
    } finally {
      emulators.control.setRegenerateDelayMs(50);
    }
  });

  it('a client reading the key from Key Vault sees zero rejected calls across 20 rotations', async () => {
    // Prepare
    const module = process_();
    const endpoint = await register(module, 'zero-downtime');
    await module.rotator.run(job(endpoint.id));
    // Like App Service Key Vault references, the client caches the key and re-reads once on 401.
    const probe = startProbeClient({
      vault: standInVaultClient(emulators.url),
      secretName: endpoint.secretName,
      scoringUri: `${emulators.url}/inference/${WS.workspace}/${endpoint.arm.name}/score`,
    });

    // Act
    for (let i = 0; i < 20; i += 1) await rotateOnce(module, endpoint.id);
    const { accepted, rejected } = await probe.stop();

    // Assess
    expect(rejected).toBe(0);
    expect(accepted).toBeGreaterThan(20);
    const versions = emulators.control.secretVersions(endpoint.secretName);
    expect(versions).toHaveLength(22);
    expect(versions.at(-1)?.value).toBe(
      emulators.control.keys(coords(endpoint.arm.name))[
        versions.at(-1)?.tags['slot'] === 'Primary' ? 'primaryKey' : 'secondaryKey'
      ],
    );
  });

  it.each(['created', 'set', 'tested', 'finish'])(
    'a crash after %s converges on the next run with one regenerate',
    async (crashAt) => {
      // Prepare: a journal that "kills the process" right after the step is recorded (or after the final secret write)
      const name = `crash-${crashAt}`;
      const first = process_({ decorateJournal: (journal) => crashingJournal(journal, crashAt) });
      const endpoint = await register(first, name);
      const regenerationsBefore = emulators.control.counters()['arm.regenerateKeys'] ?? 0;

      // Act
      await expect(first.rotator.run(job(endpoint.id))).rejects.toThrow(CrashError);
      const later = { now: () => Date.now() + 31_000 }; // another process, after the lease expired
      const outcome = await process_({ clock: later }).rotator.run(job(endpoint.id));

      // Assess
      expect(outcome).toMatchObject({ status: 'rotated', slot: 'Secondary', resumed: true });
      expect((emulators.control.counters()['arm.regenerateKeys'] ?? 0) - regenerationsBefore).toBe(1);
      const versions = emulators.control.secretVersions(endpoint.secretName);
      expect(versions.map((v) => v.tags['slot'])).toEqual(['Primary', 'Secondary']);
      expect(versions.at(-1)?.value).toBe(emulators.control.keys(coords(name)).secondaryKey);
      expect(
        emulators.control.secretVersions(`${endpoint.secretName}-pending`).every((v) => !v.enabled),
      ).toBe(true);
    },
  );

  it('two processes rotating the same endpoint at once: exactly one does it', async () => {
    // Prepare
    const a = process_();
    const b = process_();
    const endpoint = await register(a, 'contended');
    const before = emulators.control.counters()['arm.regenerateKeys'] ?? 0;

    // Act
    const outcomes = await Promise.all([a.rotator.run(job(endpoint.id)), b.rotator.run(job(endpoint.id))]);

    // Assess
    expect(outcomes.map((o) => o.status).sort()).toEqual(['rotated', 'skipped']);
    expect((emulators.control.counters()['arm.regenerateKeys'] ?? 0) - before).toBe(1);
  });

  it('ARM throttling (429 + Retry-After) is waited out and the rotation completes', async () => {
    // Prepare
    const module = process_();
    const endpoint = await register(module, 'throttled');
    emulators.control.setArmWriteThrottling({ capacity: 1, refillPerSecond: 1 });
    const throttledBefore = emulators.control.counters()['arm.throttled'] ?? 0;

    // Act
    const outcome = await module.rotator
      .run(job(endpoint.id))
      .finally(() => emulators.control.setArmWriteThrottling(undefined));

    // Assess
    expect(outcome.status).toBe('rotated');
    expect((emulators.control.counters()['arm.throttled'] ?? 0) - throttledBefore).toBeGreaterThan(0);
  });

  it('a test step that keeps failing leaves Key Vault untouched and journals the step', async () => {
    // Prepare
    const module = process_();
    const endpoint = await register(module, 'never-accepted');
    await module.rotator.run(job(endpoint.id));
    await pastGrace();
    const before = emulators.control.secretVersions(endpoint.secretName);
    emulators.control.setFault('scoring', { status: 401 });

    // Act
    await expect(module.rotator.run(job(endpoint.id))).rejects.toThrow(KeyNotAcceptedError);

    // Assess
    expect(emulators.control.secretVersions(endpoint.secretName)).toEqual(before);
    expect((await module.admin.status(endpoint.id)).lastError).toMatchObject({
      step: 'test',
      code: 'NEW_KEY_NOT_ACCEPTED',
    });
  });

  it('a run that resumes a test step measures its window from the set step the journal row recorded', async () => {
    // Prepare: the first process dies right after journaling its set step; the key is then refused
    const first = process_({ decorateJournal: (journal) => crashingJournal(journal, 'set') });
    const endpoint = await register(first, 'resumed-test');
    const startedAt = Date.now();
    await expect(first.rotator.run(job(endpoint.id))).rejects.toThrow(CrashError);
    emulators.control.setFault('scoring', { status: 401 });
    const later = process_({ clock: { now: () => Date.now() + 31_000 } }); // after the lease expired

    // Act
    const { state } = await later.journal.getState(endpoint.id);
    const resumedAt = Date.now();
    await expect(later.rotator.run(job(endpoint.id))).rejects.toThrow(KeyNotAcceptedError);

    // Assess: the Table row carries the set step's time; the resumed test, 31 s past its 3-s window, made
    // its last try (the 3-s timeout, no longer) and failed as not accepted
    expect(state.active).toMatchObject({ step: 'set', slot: 'Secondary' });
    const setAt = Date.parse(state.active?.setAt ?? '');
    expect(setAt).toBeGreaterThanOrEqual(startedAt);
    expect(setAt).toBeLessThanOrEqual(resumedAt);
    expect(Date.now() - resumedAt).toBeLessThan(10_000);
    expect((await later.admin.status(endpoint.id)).lastError).toMatchObject({
      step: 'test',
      code: 'NEW_KEY_NOT_ACCEPTED',
    });
    expect(emulators.control.secretVersions(endpoint.secretName).map((v) => v.tags['slot'])).toEqual([
      'Primary',
    ]);
  });

  it('an onboarding that died after its Key Vault write is followed by its rotation on the next scheduled job', async () => {
    // Prepare: the first process dies once Key Vault has the first version (Primary), as it journals the rotation
    const first = process_({ decorateJournal: (journal) => crashingJournal(journal, 'started', 'before') });
    const endpoint = await register(first, 'crash-onboarded');
    const scheduled = (): RotationJob => ({ ...job(endpoint.id), reason: 'schedule' });
    await expect(first.rotator.run(scheduled())).rejects.toThrow(CrashError);
    const slots = (): Array<string | undefined> =>
      emulators.control.secretVersions(endpoint.secretName).map((v) => v.tags['slot']);
    const written = slots();
    const later = process_({ clock: { now: () => Date.now() + 31_000 } }); // after the lease expired
    const asked = Date.now();
    const stopped = await later.admin.status(endpoint.id);

    // Act: the queue's next delivery of the timer's job
    const outcome = await later.rotator.run(scheduled());

    // Assess: the Table row told the version for the onboarding's own, so Secondary is rotated now rather than
    // a period later; the step rows show the onboarding before the rotation
    expect(written).toEqual(['Primary']);
    // The status told the operator so beforehand: due now (the answer's time), not a period after the write
    expect(stopped.slotInUse).toBe('Primary');
    expect(Date.parse(stopped.nextDueAt!)).toBeGreaterThanOrEqual(asked + 31_000);
    expect(Date.parse(stopped.nextDueAt!)).toBeLessThan(Date.now() + 31_000);
    expect(outcome).toMatchObject({ status: 'rotated', slot: 'Secondary' });
    expect(slots()).toEqual(['Primary', 'Secondary']);
    const prefix = config.tables.journal.replace(/RotationJournal$/, '');
    const steps = await journalReader(azurite.connectionString, prefix).steps(endpoint.id);
    expect(steps.map((r) => r.step)).toEqual([
      'onboarding',
      'started',
      'created',
      'set',
      'tested',
      'finished',
    ]);
  });

  it("an operator's rotate after NEW_KEY_NOT_ACCEPTED journals a new test window in the Table row, which the next process resumes", async () => {
    // Prepare: the key was refused for the whole window; the operator mends the scoring deployment and asks
    // again; the process that takes the job dies right after journaling the window it opens
    const first = process_();
    const endpoint = await register(first, 'retest-asked');
    await first.rotator.run(job(endpoint.id));
    await pastGrace();
    emulators.control.setFault('scoring', { status: 401 });
    await expect(first.rotator.run(job(endpoint.id))).rejects.toThrow(KeyNotAcceptedError);
    emulators.control.setFault('scoring', undefined);
    const asked = await first.admin.rotateNow(endpoint.id);
    const crashing = process_({ decorateJournal: (journal) => crashingJournal(journal, 'set') });
    await expect(crashing.rotator.run(asked)).rejects.toThrow(CrashError);
    const later = process_({ clock: { now: () => Date.now() + 31_000 } }); // after the lease expired

    // Act
    const { state } = await later.journal.getState(endpoint.id);
    const outcome = await later.rotator.run(asked);

    // Assess: the row carries the window the request opened (never before it was asked); the next process
    // resumed it without opening another, and the mended deployment accepted the key
    expect(state.active).toMatchObject({ step: 'set', slot: 'Primary' });
    const opened = Date.parse(state.active?.testWindowFrom ?? '');
    expect(opened).toBeGreaterThanOrEqual(Date.parse(asked.requestedAt));
    expect(opened).toBeGreaterThan(Date.parse(state.active?.setAt ?? ''));
    expect(outcome).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: true });
    const table = later.journal as unknown as {
      options: { table: { listEntities(): AsyncIterable<{ partitionKey?: string; detail?: string }> } };
    };
    const reopened: string[] = [];
    for await (const row of table.options.table.listEntities())
      if (row.partitionKey === endpoint.id && row.detail?.includes('test window reopened'))
        reopened.push(row.detail);
    expect(reopened).toHaveLength(1);
  });

  it("answers POST …/rotate 409 ROTATION_IN_GRACE from Key Vault's versions, naming the end the worker skips the job until", async () => {
    // Prepare: an endpoint with an hour's grace, onboarded and rotated just now (Secondary current)
    const module = process_();
    emulators.control.addOnlineEndpoint({ ...WS, name: 'grace-asked', authMode: 'Key' });
    const endpoint = await module.admin.register({
      id: 'grace-asked',
      arm: { ...WS, name: 'grace-asked' },
      secretName: 'grace-asked-secret',
      gracePeriodHours: 1,
      rotationPeriodHours: 2,
    });
    await module.rotator.run(job(endpoint.id));
    const [current] = emulators.control.secretVersions(endpoint.secretName).slice(-1);
    const endsAt = new Date(Date.parse(current!.tags['rotatedAt']!) + 3_600_000).toISOString();
    const rotate = () =>
      manageEndpointRotateHandler(() => ({ admin: module.admin }))(
        new HttpRequest({
          method: 'POST',
          url: `http://localhost:7071/api/manage/endpoints/${endpoint.id}/rotate`,
          params: { id: endpoint.id },
        }),
        new InvocationContext({ invocationId: 'inv-grace', logHandler: () => undefined }),
      );

    const status = async (): Promise<Record<string, unknown>> => {
      const got = await manageEndpointHandler(() => ({ admin: module.admin }))(
        new HttpRequest({
          method: 'GET',
          url: `http://localhost:7071/api/manage/endpoints/${endpoint.id}`,
          params: { id: endpoint.id },
        }),
        new InvocationContext({ invocationId: 'inv-grace-status', logHandler: () => undefined }),
      );
      expect(got.status).toBe(200);
      return got.jsonBody as Record<string, unknown>;
    };

    // Act
    const shown = await status();
    const answer = await rotate();
    const worker = await module.rotator.run(job(endpoint.id));

    // Assess: the answer names the end the worker's own skip names, and nothing was noted or queued
    expect(answer.status).toBe(409);
    expect(JSON.parse(answer.body as string)).toMatchObject({
      status: 409,
      code: 'ROTATION_IN_GRACE',
      detail:
        `Endpoint grace-asked rotated less than its grace period (1 h) ago: a rotation now would regenerate ` +
        `Primary, which clients may still hold. Its grace period ends at ${endsAt}; POST again then.`,
    });
    expect(worker).toMatchObject({ status: 'skipped', reason: 'inGrace' });
    expect((worker as { detail: string }).detail).toContain(`grace ends ${endsAt}`);
    expect((await module.journal.getState(endpoint.id)).state.queuedManual).toBeUndefined();
    // The status (GET …/endpoints/{id}) names the same end, from the same versions, before anyone POSTs
    expect(shown).toMatchObject({ slotInUse: 'Secondary', graceEndsAt: endsAt });
  });

  it('left no key in any log line, journal row or event', async () => {
    // Prepare: every key the endpoints hold now and every secret value ever written
    const keys = [
      'zero-downtime',
      'crash-set',
      'contended',
      'slow-regenerate',
      'throttled',
      'never-accepted',
      'resumed-test',
      'crash-onboarded',
      'retest-asked',
      'grace-asked',
    ].flatMap((n) => Object.values(emulators.control.keys(coords(n))));
    const written = [
      'zero-downtime',
      'contended',
      'slow-regenerate',
      'throttled',
      'crash-onboarded',
      'retest-asked',
      'grace-asked',
    ].flatMap((n) => emulators.control.secretVersions(`${n}-secret`).map((v) => v.value));
    const module = process_();
    const rows: string[] = [];
    const table = module.journal as unknown as {
      options: { table: { listEntities(): AsyncIterable<unknown> } };
    };
    for await (const row of table.options.table.listEntities()) rows.push(JSON.stringify(row));

    // Assess
    const haystack = [...logs, ...rows, JSON.stringify(events.events)].join('\n');
    expect(rows.length).toBeGreaterThan(10);
    for (const secret of new Set([...keys, ...written])) expect(haystack).not.toContain(secret);
  });
});

/**
 * Decorates a journal so the process "dies" right after `step` is journaled (or after finish's secret write),
 * or, `before`, as it is about to journal it (nothing of that write lands).
 */
function crashingJournal(
  inner: RotationJournal,
  step: string,
  when: 'before' | 'after' = 'after',
): RotationJournal {
  let dead = false;
  const guard = <T>(fn: () => Promise<T>): Promise<T> => (dead ? Promise.reject(new CrashError()) : fn());
  return {
    acquireLease: (...a) => guard(() => inner.acquireLease(...a)),
    renewLease: (lease, ttl) => guard(() => inner.renewLease(lease, ttl)),
    releaseLease: (lease) => guard(() => inner.releaseLease(lease)),
    getState: (id) => guard(() => inner.getState(id)),
    markEnqueued: (id, at) => guard(() => inner.markEnqueued(id, at)),
    markManualRotation: (id, request, waits) => guard(() => inner.markManualRotation(id, request, waits)),
    clearManualRotation: (id, at) => guard(() => inner.clearManualRotation(id, at)),
    write: (lease, ttl, entry) =>
      guard(async () => {
        // 'finish': die when the success row is about to be written, i.e. after the main secret version exists.
        const dies = when === 'before' && entry.state.active?.step === step;
        if (dies || (step === 'finish' && entry.state.lastOutcome === 'succeeded')) {
          dead = true;
          throw new CrashError();
        }
        const renewed = await inner.write(lease, ttl, entry);
        if (entry.state.active?.step === step) {
          dead = true;
          throw new CrashError();
        }
        return renewed;
      }),
  };
}
