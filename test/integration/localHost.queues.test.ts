import { join } from 'node:path';

import { QueueClient } from '@azure/storage-queue';

import { startAzurite } from '../../local/azurite';
import { startFunctionsHost } from '../../local/host/FunctionsHost';
import { sleep, waitFor } from '../support/waitFor';

const app = join(__dirname, '..', 'fixtures', 'functions-app');
const masterKey = 'master-key-for-queue-tests';
const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');

interface Report {
  kind: string;
  message?: { n?: number; fail?: boolean };
  dequeueCount?: number;
  id?: string;
  timer?: {
    isPastDue: boolean;
    schedule: { adjustForDST: boolean };
    scheduleStatus: { last: string; next: string; lastUpdated: string };
  };
}

jest.setTimeout(60000);

describe('Function: startFunctionsHost (queues and timers on Azurite)', () => {
  let azurite: Awaited<ReturnType<typeof startAzurite>>;
  let host: Awaited<ReturnType<typeof startFunctionsHost>>;
  let work: QueueClient;
  let poison: QueueClient;
  let results: QueueClient;
  const seen: Report[] = [];
  const hostLog: string[] = [];

  /** Drains the results queue the fixture functions write to into `seen` until `done` holds. */
  async function drainResultsUntil(done: () => boolean, timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline)
        throw new Error(`timed out; seen ${JSON.stringify(seen)}\n${hostLog.join('\n')}`);
      const batch = await results.receiveMessages({ numberOfMessages: 32 });
      for (const m of batch.receivedMessageItems) {
        seen.push(JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as Report);
        await results.deleteMessage(m.messageId, m.popReceipt);
      }
      if (batch.receivedMessageItems.length === 0) await sleep(100);
    }
  }

  /** The texts on the poison queue (none before the host has created it). */
  async function poisonedTexts(): Promise<string[]> {
    if (!(await poison.exists())) return [];
    const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
    return peekedMessageItems.map((m) => m.messageText);
  }
  const POISON_WAIT = { timeoutMs: 10000, intervalMs: 200 };

  beforeAll(async () => {
    azurite = await startAzurite();
    const env = {
      ...process.env,
      AzureWebJobsStorage: azurite.connectionString,
      FIXTURE_WORK_QUEUE: 'work-items',
      FIXTURE_RESULTS_QUEUE: 'fixture-results',
      FIXTURE_TICK_SCHEDULE: '*/1 * * * * *',
    };
    work = new QueueClient(azurite.connectionString, 'work-items');
    poison = new QueueClient(azurite.connectionString, 'work-items-poison');
    results = new QueueClient(azurite.connectionString, 'fixture-results');
    await Promise.all([work.createIfNotExists(), results.createIfNotExists()]);
    host = await startFunctionsHost({
      port: 0,
      masterKey,
      defaultKey: 'default-key',
      entryPoints: [join(app, 'backgroundFunctions.js')],
      storageConnectionString: azurite.connectionString,
      hostJsonPath: join(app, 'host.json'),
      env,
      log: (line) => hostLog.push(line),
    });
  }, 60000);

  afterAll(async () => {
    await host?.stop();
    await azurite?.stop();
  });

  it('delivers a base64 JSON message as a parsed object with dequeueCount and id', async () => {
    // Act
    await work.sendMessage(encode({ n: 1 }));
    await drainResultsUntil(() => seen.some((r) => r.kind === 'queue' && r.message?.n === 1));
    // Assess
    const report = seen.find((r) => r.kind === 'queue' && r.message?.n === 1);
    expect(report).toMatchObject({ message: { n: 1 }, dequeueCount: 1 });
    expect(typeof report?.id).toBe('string');
  });

  it('retries a failing message until maxDequeueCount, then moves it to <queue>-poison', async () => {
    // Act
    await work.sendMessage(encode({ n: 2, fail: true }));
    await drainResultsUntil(() => seen.filter((r) => r.message?.n === 2).length >= 3);
    const poisoned = await waitFor(
      'a message on the poison queue',
      async () => {
        const texts = await poisonedTexts();
        return texts.length > 0 && texts;
      },
      POISON_WAIT,
    );
    // Assess
    expect(seen.filter((r) => r.message?.n === 2).map((r) => r.dequeueCount)).toEqual([1, 2, 3]);
    expect(poisoned).toEqual([encode({ n: 2, fail: true })]);
    expect((await work.peekMessages()).peekedMessageItems).toHaveLength(0);
  });

  it('moves a message that is not base64 to <queue>-poison at once, as the real host does', async () => {
    // Act
    const raw = '{"n":3} sent without base64';
    const { messageId } = await work.sendMessage(raw);
    // The host logs the move after it has deleted the original, so the line may follow the poison message.
    const moved = () => hostLog.filter((l) => l.includes(`Message ${messageId} moved`));
    const poisoned = await waitFor(
      'the message on the poison queue and its move logged',
      async () => {
        const texts = await poisonedTexts();
        return texts.includes(raw) && moved().length > 0 && texts;
      },
      POISON_WAIT,
    );
    // Assess
    expect(poisoned).toContain(raw);
    expect(moved()).toEqual([`Message ${messageId} moved to 'work-items-poison' after 1 attempts`]);
    expect(seen.some((r) => r.message?.n === 3)).toBe(false);
  });

  it('moves base64 the real host cannot decode (padding left off) to <queue>-poison at once, so it cannot pass only locally', async () => {
    // Prepare: Convert.FromBase64String, which the queues extension decodes with, refuses text without its padding.
    const unpadded = encode({ n: 4 }).replace(/=+$/, '');
    const padded = Buffer.from(JSON.stringify({ n: 5 }))
      .toString('base64')
      .replace(/(.{4})/g, '$1\n');

    // Act
    const { messageId } = await work.sendMessage(unpadded);
    await work.sendMessage(padded);
    await drainResultsUntil(() => seen.some((r) => r.message?.n === 5));
    const line = `Message ${messageId} moved to 'work-items-poison' after 1 attempts`;
    // As above: the host logs the move after deleting the original.
    const poisoned = await waitFor(
      'the message on the poison queue and its move logged',
      async () => {
        const texts = await poisonedTexts();
        return texts.includes(unpadded) && hostLog.includes(line) && texts;
      },
      POISON_WAIT,
    );

    // Assess: line breaks inside base64 are allowed, as they are for Convert.FromBase64String.
    expect(poisoned).toContain(unpadded);
    expect(hostLog).toContain(line);
    expect(seen.some((r) => r.message?.n === 4)).toBe(false);
  });

  it('runs a timer on its every-second schedule with the timer object shape', async () => {
    // Act
    await drainResultsUntil(() => seen.filter((r) => r.kind === 'timer').length >= 2);
    // Assess
    const timer = seen.find((r) => r.kind === 'timer')?.timer;
    expect(timer).toMatchObject({ isPastDue: false, schedule: { adjustForDST: true } });
    expect(Date.parse(timer?.scheduleStatus.next ?? '')).toBeGreaterThan(0);
  });

  it('runs a function now through POST /admin/functions/{name} with the master key', async () => {
    // Prepare
    const before = seen.filter((r) => r.kind === 'queue' && r.message?.n === 99).length;
    // Act
    const denied = await fetch(`${host.url}/admin/functions/work`, { method: 'POST', body: '{}' });
    const res = await fetch(`${host.url}/admin/functions/work`, {
      method: 'POST',
      headers: { 'x-functions-key': masterKey, 'content-type': 'application/json' },
      body: JSON.stringify({ input: JSON.stringify({ n: 99 }) }),
    });
    const tick = await fetch(`${host.url}/admin/functions/tick?code=${masterKey}`, {
      method: 'POST',
      body: '{}',
    });
    await drainResultsUntil(
      () => seen.filter((r) => r.kind === 'queue' && r.message?.n === 99).length > before,
    );
    // Assess
    expect(denied.status).toBe(401);
    expect(res.status).toBe(202);
    expect(tick.status).toBe(202);
  });
});
