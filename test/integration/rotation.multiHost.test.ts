import { join } from 'node:path';

import { QueueClient } from '@azure/storage-queue';

import type { SpawnedFunctionsHost } from '../../local/host/childProcess';
import { type LocalStack, startLocalStack } from '../../local/stack';
import { realSleep } from '../../shared/clock';
import type { RotationJob } from '../../shared/rotation/RotationJob';
import { SECRET_TAGS } from '../../shared/rotation/SecretStore';
import { StorageJsonQueue } from '../../shared/StorageJsonQueue';
import { addKeyEndpoint, type RegisteredKeyEndpoint } from '../support/stackEndpoints';
import { leakedSecrets, StandInLog } from '../support/standInLog';
import { allTableRowsText, journalReader } from '../support/storageTables';
import { waitFor } from '../support/waitFor';

/**
 * Scale-out: several Functions host processes, each running the rotation timer and the queue worker,
 * against one Azurite account and one set of stand-ins. Whether two hosts' ticks both enqueue an endpoint
 * depends on timing (a tick skips an endpoint while a run holds its lease), so the test adds one
 * scheduled job per host for every endpoint, as that many ticks would. With those and the timers' own
 * jobs on the queue, the lease and the journal must still rotate each endpoint exactly once.
 */
const WS = {
  subscriptionId: '00000000-0000-0000-0000-0000000000m1',
  resourceGroup: 'rg-multi',
  workspace: 'ws-multi',
};
const ENDPOINTS_PER_ROUND = 8;
const TIMER_LINE = /RotationTimer => enqueueDue => /g;

jest.setTimeout(240_000);

describe('Rotation with several host processes on one storage account', () => {
  const root = join(__dirname, '..', '..');
  const standIns = new StandInLog();
  let stack: LocalStack;
  const hosts: SpawnedFunctionsHost[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({
      root,
      functionsPort: 0,
      emulatorPort: 0,
      log: standIns.sink,
      // Every 2 s on every host; a period far longer than the test, so "once" is unambiguous.
      settings: { ROTATION_SCHEDULE: '*/2 * * * * *', ROTATION_PERIOD_HOURS: '1' },
    });
    hosts.push(stack.host, await stack.spawnHost());
    stack.emulators.control.addWorkspace(WS);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  /** Timer runs of a host so far. */
  const timerRuns = (host: SpawnedFunctionsHost): number => [...host.output().matchAll(TIMER_LINE)].length;

  async function rotateRoundExactlyOnce(round: string): Promise<void> {
    // Prepare
    const journal = journalReader(stack.storageConnectionString);
    const endpoints: RegisteredKeyEndpoint[] = [];
    for (let i = 0; i < ENDPOINTS_PER_ROUND; i += 1)
      endpoints.push(await addKeyEndpoint(stack, WS, `multi-${round}-${i}`));
    const queue = new QueueClient(stack.storageConnectionString, 'rotation-jobs');
    const jobs = new StorageJsonQueue<RotationJob>({ client: queue, sleep: realSleep });
    const requestedAt = new Date().toISOString();
    for (const endpoint of endpoints)
      for (const _ of hosts) await jobs.enqueue({ endpointId: endpoint.id, reason: 'schedule', requestedAt });

    // Act: wait until every endpoint is rotated, then let every host's timer run three more times
    await waitFor(
      'every endpoint rotated',
      async () => {
        const states = await Promise.all(endpoints.map((e) => journal.state(e.id)));
        return states.every((s) => s.lastOutcome === 'succeeded' && !s.active);
      },
      {
        timeoutMs: 150_000,
        intervalMs: 500,
        describe: () => hosts.map((h) => h.output().slice(-3000)).join('\n---\n'),
      },
    );
    const runsThen = hosts.map(timerRuns);
    await waitFor('three more timer runs on every host', () =>
      hosts.every((h, i) => timerRuns(h) >= (runsThen[i] ?? 0) + 3),
    );
    await waitFor(
      'the job queue to drain',
      async () => (await queue.getProperties()).approximateMessagesCount === 0,
      { timeoutMs: 60_000 },
    );

    // Assess: one regenerate each, however many jobs and hosts took part
    for (const endpoint of endpoints) {
      const versions = stack.emulators.control.secretVersions(endpoint.secretName);
      const finished = (await journal.steps(endpoint.id)).filter((s) => s.step === 'finished');
      expect({ id: endpoint.id, regenerations: standIns.regenerations(endpoint.name) }).toEqual({
        id: endpoint.id,
        regenerations: 1,
      });
      expect(versions.map((v) => v.tags[SECRET_TAGS.slot])).toEqual(['Primary', 'Secondary']);
      expect(versions[1]?.value).toBe(stack.emulators.control.keys(endpoint.coords).secondaryKey);
      expect(finished).toHaveLength(1);
      expect(finished[0]?.rotationId).toBe(versions[1]?.tags[SECRET_TAGS.rotationId]);
    }
  }

  it('two host processes running timer and queue: every due endpoint rotated exactly once', async () => {
    await rotateRoundExactlyOnce('two');
  });

  it('three host processes running timer and queue: every due endpoint rotated exactly once', async () => {
    hosts.push(await stack.spawnHost());
    await rotateRoundExactlyOnce('three');
  });

  it('left no key in any host output or table row', async () => {
    const haystack = [...hosts.map((h) => h.output()), await allTableRowsText(stack.storageConnectionString)];
    const keys = new Map<string, string>();
    for (const round of ['two', 'three'])
      for (let i = 0; i < ENDPOINTS_PER_ROUND; i += 1) {
        const name = `multi-${round}-${i}`;
        for (const [slot, key] of Object.entries(stack.emulators.control.keys({ ...WS, name })))
          keys.set(key, `${name} ${slot}`);
      }
    expect(keys.size).toBe(4 * ENDPOINTS_PER_ROUND);
    expect(leakedSecrets(haystack.join('\n'), keys)).toEqual([]);
  });
});
