import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { TableClient } from '@azure/data-tables';

import { TableProcessedEventStore } from '../../shared/events/TableProcessedEventStore';
import { silentLogger } from '../../shared/logging';
import { sleep } from '../support/waitFor';

interface Storage {
  connectionString: string;
  stop(): Promise<void>;
}

const ROOT = join(__dirname, '..', '..');
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Azurite through the host helper's local/azurite.ts when present, else a table-only Azurite of our own. */
async function startStorage(): Promise<Storage> {
  const shared = join(ROOT, 'local', 'azurite.ts');
  if (existsSync(shared)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(shared) as { startAzurite(): Promise<Storage> };
    return mod.startAzurite();
  }
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'azurite', 'dist', 'src', 'table', 'main.js'),
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(port),
    ],
    { stdio: 'ignore' },
  );
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_KEY};TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await TableClient.fromConnectionString(connectionString, 'probe', {
        allowInsecureConnection: true,
      }).createTable();
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
  return {
    connectionString,
    stop: () => new Promise<void>((resolve) => (child.once('exit', () => resolve()), child.kill())),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** A purge interval longer than any clock's time since the epoch: no write ever starts a purge. */
const NO_LAZY_PURGE_MS = 1e15;

describe('Class: TableProcessedEventStore (Azurite)', () => {
  let storage: Storage;
  let table: TableClient;

  beforeAll(async () => {
    storage = await startStorage();
    table = TableClient.fromConnectionString(storage.connectionString, `events${Date.now()}`, {
      allowInsecureConnection: true,
    });
    // Azurite takes longer than Jest's default 5 s hook timeout to start on a loaded machine (the
    // integration project's testTimeout is not applied to hooks in this multi-project config).
  }, 60_000);
  afterAll(async () => storage.stop());

  /** The store on this suite's table with its clock stopped at `now`; it purges only when a test calls purgeOlderThan. */
  const storeAt = (now: number) =>
    new TableProcessedEventStore({
      table,
      clock: { now: () => now },
      logger: silentLogger,
      purgeIntervalMs: NO_LAZY_PURGE_MS,
    });

  it('records an event once, sees the duplicate, and survives concurrent inserts of the same id', async () => {
    // Prepare
    const now = Date.parse('2026-11-23T12:00:00Z');
    const store = storeAt(now);
    const record = {
      id: 'evt/1?#',
      type: 'Microsoft.KeyVault.SecretNearExpiry',
      eventTime: new Date(now),
      outcome: 'rotationEnqueued',
    };

    // Act
    const before = await store.has(record.id, record.eventTime);
    await Promise.all([
      store.markProcessed(record),
      store.markProcessed(record),
      store.markProcessed(record),
    ]);
    const after = await store.has(record.id, new Date(now + 3_600_000));

    // Assess
    expect([before, after]).toEqual([false, true]);
  });

  it('purges rows of days older than the cutoff and keeps the rest', async () => {
    // Prepare
    const now = Date.parse('2026-11-23T12:00:00Z');
    const store = storeAt(now);
    await store.markProcessed({
      id: 'old',
      type: 'T',
      eventTime: new Date('2026-11-18T10:00:00Z'),
      outcome: 'x',
    });
    await store.markProcessed({
      id: 'recent',
      type: 'T',
      eventTime: new Date('2026-11-22T10:00:00Z'),
      outcome: 'x',
    });

    // Act
    const deleted = await store.purgeOlderThan(new Date('2026-11-20T00:00:00Z'));

    // Assess
    expect(deleted).toBe(1);
    expect(await store.has('old', new Date('2026-11-18T10:00:00Z'))).toBe(false);
    expect(await store.has('recent', new Date('2026-11-22T10:00:00Z'))).toBe(true);
  });
});
