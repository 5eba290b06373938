import { createHmac } from 'node:crypto';

import { buildTestBroker, TEST_PEPPER } from '../fakes/broker/buildTestBroker';
import { testEndpoint } from '../fakes/broker/InMemoryEndpointLookup';
import type { BenchResult, BenchSuite } from './BenchResult';

/**
 * The broker in process, over the in-memory fakes of its ports: what one vend costs on a warm cache
 * (against the irreducible HMAC + lookup), whether the heap stays bounded, and how many upstream calls
 * a heavy, simulated load causes. Needs `--expose-gc` for the heap figure.
 */
const VENDS = 500_000;

/** Warm-cache cost per vend, against the irreducible work: one HMAC of the secret and one map lookup. */
async function vendCost(): Promise<BenchResult[]> {
  const broker = buildTestBroker();
  const client = await broker.addClient({ rateLimitPerMinute: 1_000_000 });
  const request = {
    protocol: 'oauth' as const,
    clientId: client.id,
    secret: client.primary,
    scope: 'demo-token',
  };
  await broker.module.broker.vend(request);

  const table = new Map([
    [client.id, createHmac('sha256', TEST_PEPPER).update(client.primary).digest('hex')],
  ]);
  let sink = 0;
  const baseStart = process.hrtime.bigint();
  for (let i = 0; i < VENDS; i++) {
    const digest = createHmac('sha256', TEST_PEPPER).update(client.primary).digest('hex');
    if (table.get(client.id) === digest) sink++;
    await Promise.resolve();
  }
  const baselineUs = Number(process.hrtime.bigint() - baseStart) / 1000 / VENDS;

  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const start = process.hrtime.bigint();
  for (let i = 0; i < VENDS; i++) await broker.module.broker.vend(request);
  const vendUs = Number(process.hrtime.bigint() - start) / 1000 / VENDS;
  const second = await broker.addClient({ rateLimitPerMinute: 1_000_000 });
  const request2 = { ...request, clientId: second.id, secret: second.primary };
  for (let i = 0; i < VENDS; i++) await broker.module.broker.vend(request2);
  global.gc?.();
  const growthMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
  if (sink !== VENDS) throw new Error('baseline did not authenticate');
  return [
    {
      name: 'in-process vend cost, warm cache',
      value: vendUs,
      unit: 'µs',
      baseline: baselineUs,
      baselineName: 'HMAC + map lookup',
      ratio: vendUs / baselineUs,
      goal: '≤ 20 µs',
      met: vendUs <= 20,
    },
    {
      name: `heap growth after ${(2 * VENDS).toLocaleString('en-US')} vends`,
      value: growthMb,
      unit: 'MiB',
      goal: global.gc ? '< 5 MiB (bounded cache)' : 'run with --expose-gc for a reliable figure',
      met: growthMb < 5,
    },
  ];
}

/**
 * Ten simulated minutes at 2,000 requests/s over 50 AMLToken scopes with 1-minute tokens: how many
 * upstream calls each scope makes per refresh window (goal exactly 1).
 */
async function upstreamAmplification(): Promise<BenchResult[]> {
  const broker = buildTestBroker({ BROKER_MIN_TOKEN_LIFETIME_SECONDS: '10', BROKER_REFRESH_FRACTION: '0.5' });
  broker.aml.behaviour = { kind: 'token', lifetimeMs: 60_000 };
  const scopes = Array.from({ length: 50 }, (_, i) => `bench-${i}`);
  for (const id of scopes) broker.endpoints.add(testEndpoint(id, 'AMLToken'));
  const client = await broker.addClient({ allowedScopes: scopes, rateLimitPerMinute: 1_000_000 });
  const stepMs = 100;
  const perStep = 200; // 2,000 requests/s
  for (let t = 0; t < 600_000; t += stepMs) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = 0; i < perStep; i++) {
      const scope = scopes[(t / stepMs + i) % scopes.length] as string;
      batch.push(
        broker.module.broker.vend({ protocol: 'oauth', clientId: client.id, secret: client.primary, scope }),
      );
    }
    await Promise.all(batch);
    broker.clock.advance(stepMs);
  }
  const windows = 600_000 / 30_000; // refresh at half of a 60 s lifetime
  const perScopePerWindow = broker.aml.calls / scopes.length / windows;
  return [
    {
      name: 'upstream calls per scope per refresh window (50 scopes, 2,000 req/s, 1-min tokens, 10 simulated min)',
      value: perScopePerWindow,
      unit: 'calls',
      goal: 'exactly 1',
      met: Math.abs(perScopePerWindow - 1) < 0.06,
    },
  ];
}

/** `npm run bench -- inprocess`. */
export const inProcessSuite: BenchSuite = {
  name: 'inprocess',
  description: 'vend cost, heap after 1M vends, upstream calls per refresh window (simulated clock)',
  run: async () => [...(await vendCost()), ...(await upstreamAmplification())],
};
