import { join } from 'node:path';

import { deliver, secretEvent } from '../support/keyVaultEvents';
import { ProcessPause } from '../support/ProcessPause';
import { rotateNow } from '../support/stackEndpoints';
import { sleep, waitFor } from '../support/waitFor';
import { type CaseReport, CaseRunner } from './caseRunner';
import { crashAtStep, type CrashResult, type KillPoint } from './crashAtStep';
import { type MatrixStack, startMatrixStack } from './matrixStack';
import { writeFaultReport } from './report';

/**
 * The fault matrix (`npm run test:faults`): a probe client per rotating endpoint reads its key from
 * Key Vault and scores continuously, a broker client asks for tokens continuously, while faults hit
 * the stack one at a time and then together. Every case must end with zero rejected probe calls,
 * zero broker 5xx outside the documented outage window, at least one completed rotation, no double
 * rotation and no secret in any log or table row. The report goes to bench-results/faults.{json,md}.
 */
jest.setTimeout(300_000);

describe('Fault matrix', () => {
  const root = join(__dirname, '..', '..');
  const startedAt = Date.now();
  let m: MatrixStack;
  let runner: CaseRunner;

  beforeAll(async () => {
    m = await startMatrixStack();
    runner = new CaseRunner(m);
  }, 240_000);

  afterAll(async () => {
    if (runner) process.stdout.write(`\n${writeFaultReport(root, runner.reports, Date.now() - startedAt)}\n`);
    await m?.stop();
  });

  /** The goals every case shares. */
  function expectGoals(r: CaseReport): void {
    expect({
      case: r.name,
      probeRejected: r.probeRejected,
      broker5xxOutsideWindow: r.broker5xxOutsideWindow,
      doubleRotations: r.doubleRotations,
      secretsInLogs: r.secretsInLogs,
    }).toEqual({
      case: r.name,
      probeRejected: 0,
      broker5xxOutsideWindow: 0,
      doubleRotations: 0,
      secretsInLogs: 0,
    });
    expect(r.rotationsCompleted).toBeGreaterThan(0);
    expect(r.probeCalls).toBeGreaterThan(0);
    expect(r.brokerCalls).toBeGreaterThan(0);
  }

  function expectConverged(crash: CrashResult | undefined, point: KillPoint): void {
    expect(crash).toMatchObject({
      killPoint: point,
      journalAtKill: point === 'secretWritten' ? 'tested' : point,
      keyChanges: 1,
      newVersions: 1,
    });
    expect(crash?.regenerateCalls).toBeGreaterThanOrEqual(1);
  }

  it.each<KillPoint>(['created', 'set', 'tested', 'secretWritten', 'finished'])(
    'host process killed after %s: the rotation converges on a fresh host',
    async (point) => {
      let crash: CrashResult | undefined;
      const report = await runner.run(`killed after ${point}`, async () => {
        crash = await crashAtStep(m, point);
        const event =
          point === 'finished'
            ? `; KeyRotated received ${crash.receivedEventIds?.length ?? 0}× under the journaled id`
            : '';
        return `journal at kill: ${crash.journalAtKill}; converged ${(crash.convergedMs / 1000).toFixed(1)} s after the kill; regenerate calls ${crash.regenerateCalls}, key changes ${crash.keyChanges}${event}`;
      });
      expectGoals(report);
      expectConverged(crash, point);
      // Killed between the finish and its event: a later run sends the event the finish journaled.
      if (point === 'finished') {
        expect(crash?.journaledEventId).toEqual(expect.any(String));
        expect(crash?.receivedEventIds?.length).toBeGreaterThan(0);
        expect(new Set(crash?.receivedEventIds)).toEqual(new Set([crash?.journaledEventId]));
      }
    },
  );

  it('Key Vault unavailable', async () => {
    const report = await runner.run('Key Vault unavailable', async () => {
      m.stack.emulators.control.setFault('keyVault', { outage: true });
      await sleep(12_000);
      return 'connections reset for 12 s';
    });
    expectGoals(report);
  });

  it('ARM unavailable, then throttling', async () => {
    const { control } = m.stack.emulators;
    const throttledBefore = control.counters()['arm.throttled'] ?? 0;
    const report = await runner.run('ARM unavailable, then throttling', async () => {
      const outage = runner.upstreamDown('arm outage');
      // Longer than a token stays servable (30 s lifetime, 5 s minimum, refreshed from 15 s on), so every
      // host's cache runs dry and the broker must answer 503 + Retry-After inside the window.
      control.setFault('arm', { outage: true });
      await sleep(28_000);
      control.setFault('arm', undefined);
      outage();
      const throttling = runner.upstreamDown('arm throttling');
      // Tight enough that one rotation (list keys, regenerate, list keys) runs out of writes, and one is
      // asked for: right after the outage the timer's own rotations may be backing off, and a window with
      // no writes in it would test nothing.
      control.setArmWriteThrottling({ capacity: 1, refillPerSecond: 0.2 });
      await rotateNow(m.stack, m.crash.id, m.live[0]?.url).catch(() => undefined); // leased: one is running
      await sleep(10_000);
      control.setArmWriteThrottling(undefined);
      throttling();
      return `outage 28 s, then writes throttled 10 s (${(control.counters()['arm.throttled'] ?? 0) - throttledBefore} answered 429)`;
    });
    expectGoals(report);
    expect(report.broker5xxInWindow).toBeGreaterThan(0); // the documented window was really exercised
    expect((control.counters()['arm.throttled'] ?? 0) - throttledBefore).toBeGreaterThan(0);
  });

  it('scoring endpoint slow', async () => {
    const report = await runner.run('scoring endpoint slow', async () => {
      m.stack.emulators.control.setFault('scoring', { latencyMs: 3_000 });
      await sleep(15_000);
      return '3 s per scoring call for 15 s';
    });
    expectGoals(report);
  });

  it('managed identity endpoint failing, with an instance starting during the failure', async () => {
    const report = await runner.run('managed identity failing', async () => {
      const down = runner.upstreamDown('identity');
      m.stack.emulators.control.setFault('identity', { status: 500 });
      const until = Date.now() + 15_000;
      const victim = m.live[m.live.length - 1];
      if (victim && m.live.length > 1) await m.killHost(victim);
      await m.spawnHost(); // cold: no managed-identity token cached
      await sleep(Math.max(0, until - Date.now()));
      m.stack.emulators.control.setFault('identity', undefined);
      down();
      return '500 for 15 s; one host killed and a cold one started meanwhile';
    });
    expectGoals(report);
  });

  it('duplicate and reordered Key Vault events', async () => {
    const { control } = m.stack.emulators;
    const { events: endpoint } = m;
    const before = control.secretVersions(endpoint.secretName);
    const keyChangesBefore = control.keyChanges(endpoint.coords);
    const statuses: number[][] = [];
    const report = await runner.run('duplicate and reordered events', async () => {
      const vault = m.stack.emulators.url;
      const [older, current] = before.slice(-2).map((v) => v.version);
      const [a, b] = [m.live[0]?.url ?? '', m.live[1]?.url ?? m.live[0]?.url ?? ''];
      const key = m.stack.defaultKey;
      // SecretExpired, not SecretNearExpiry: a near-expiry job waits for the schedule (the event comes 30 days
      // before the expiry the app sets), an expired one rotates at once.
      const expired = secretEvent('SecretExpired', vault, endpoint.secretName, current ?? '');
      // Our own write first, then the same expiry event to two instances at once, then stale events
      // about the older version (arriving late), then a second expiry event for the same version.
      statuses.push(
        await deliver(a, key, [
          secretEvent('SecretNewVersionCreated', vault, endpoint.secretName, current ?? ''),
        ]),
      );
      statuses.push(...(await Promise.all([deliver(a, key, [expired]), deliver(b, key, [expired])])));
      statuses.push(
        await deliver(b, key, [
          secretEvent('SecretNewVersionCreated', vault, endpoint.secretName, older ?? ''),
          secretEvent('SecretExpired', vault, endpoint.secretName, older ?? ''),
        ]),
      );
      statuses.push(
        await deliver(a, key, [secretEvent('SecretExpired', vault, endpoint.secretName, current ?? '')]),
      );
      await waitFor(
        'the event-driven rotation',
        () => control.secretVersions(endpoint.secretName).length > before.length,
        {
          timeoutMs: 60_000,
        },
      );
      // Redelivery after the rotation: now stale.
      const rotated = control.secretVersions(endpoint.secretName).at(-1)?.version ?? '';
      statuses.push(await deliver(b, key, [expired]));
      statuses.push(
        await deliver(a, key, [secretEvent('SecretNewVersionCreated', vault, endpoint.secretName, rotated)]),
      );
      await waitFor('every job handled', async () => !(await m.journal.state(endpoint.id)).active);
      await sleep(5_000); // a wrongly enqueued second rotation would show up by now
      return `${statuses.length} deliveries; event-driven rotations of ${endpoint.id}: ${control.secretVersions(endpoint.secretName).length - before.length}`;
    });
    expectGoals(report);
    expect(statuses.map((s) => s.at(-1))).toEqual(statuses.map(() => 200));
    expect(control.secretVersions(endpoint.secretName).length - before.length).toBe(1);
    expect(control.keyChanges(endpoint.coords) - keyChangesBefore).toBe(1);
  });

  it('Table storage not answering', async () => {
    const storage = new ProcessPause(m.stack.storagePid, 'Azurite');
    const report = await runner.run('Table storage silent', async () => {
      // Only a host that has not yet seen the broker client may answer 503 (it has no record to serve).
      const silent = runner.upstreamDown('table storage silent');
      storage.pause();
      try {
        await sleep(15_000);
      } finally {
        storage.resume();
        silent();
      }
      return 'Azurite (tables, queues, blobs) paused for 15 s';
    });
    expectGoals(report);
  });

  it('three host processes sharing one storage account', async () => {
    const report = await runner.run('three host processes', async () => {
      while (m.live.length < 3) await m.spawnHost();
      await sleep(25_000);
      return 'three hosts running timer, queue and HTTP for 25 s';
    });
    expectGoals(report);
  });

  it('all together', async () => {
    const { control } = m.stack.emulators;
    let crash: CrashResult | undefined;
    const report = await runner.run('all together', async () => {
      const until = Date.now() + 30_000;
      const down = runner.upstreamDown('identity and arm (intermittent) + throttling');
      const keyVaultFault = { status: 503, probability: 0.3 };
      control.setFault('keyVault', keyVaultFault);
      control.setFault('arm', { status: 503, probability: 0.3 });
      control.setFault('identity', { status: 500, probability: 0.3 });
      control.setFault('scoring', { latencyMs: 400 });
      control.setArmWriteThrottling({ capacity: 10, refillPerSecond: 1 });
      while (m.live.length < 3) await m.spawnHost();
      const current = control.secretVersions(m.events.secretName).at(-1)?.version ?? '';
      const expired = secretEvent('SecretExpired', m.stack.emulators.url, m.events.secretName, current);
      const events = Promise.all(m.live.map((h) => deliver(h.url, m.stack.defaultKey, [expired])));
      crash = await crashAtStep(m, 'set', keyVaultFault);
      await events;
      await sleep(Math.max(0, until - Date.now()));
      down();
      return `KV/ARM/identity failing 30% + throttling + slow scoring + duplicate events + kill after set; converged ${((crash.convergedMs ?? 0) / 1000).toFixed(1)} s after the kill`;
    });
    expectGoals(report);
    expectConverged(crash, 'set');
  });
});
