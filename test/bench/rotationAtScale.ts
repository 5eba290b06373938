import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { QueueClient } from '@azure/storage-queue';

import { ensureLocalCertificate } from '../../local/certs';
import { startLocalStack } from '../../local/stack';
import { useEmulatorIdentity } from '../support/emulators';
import { sleep } from '../support/waitFor';
import type { BenchResult } from './BenchResult';
import { CpuSampler, StandInMeter } from './rotationAtScaleMeter';
import { type ScaleRun, toResults } from './rotationAtScaleReport';
import { benchModule, seedEndpoints } from './rotationAtScaleSeed';

/** ARM's write bucket and the stand-ins' latency, as issue 3 states them. Not tunable. */
export const THROTTLE = { capacity: 200, refillPerSecond: 10 } as const;
const LATENCY_MS = 100;
/** Stand-in counters that count outcomes of requests already counted by operation, not requests. */
const OUTCOME_COUNTERS = /\.(throttled|unauthorized|forbidden|notFound|accepted|rejected)$/;
const ROOT = join(__dirname, '..', '..', '..');

/** Counts the Functions host's failure lines as its output streams in (chunks may split lines). */
function failureCounter(): { onOutput: (chunk: string) => void; failed: () => number; poison: () => number } {
  let tail = '';
  let failed = 0;
  let poison = 0;
  return {
    onOutput: (chunk) => {
      const lines = (tail + chunk).split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('rotate => failed')) failed += 1;
        // A job that failed its last delivery, or a malformed one moved on its first.
        if (/job (?:goes|moved) to poison queue/.test(line)) poison += 1;
      }
    },
    failed: () => failed,
    poison: () => poison,
  };
}

async function queueLength(connection: string, name: string): Promise<number> {
  try {
    return (await new QueueClient(connection, name).getProperties()).approximateMessagesCount ?? 0;
  } catch {
    return 0; // never created: nothing went there
  }
}

/** One run: seed `size` endpoints, throttle, fire the timer, wait until every endpoint rotated. */
async function runOnce(size: number): Promise<ScaleRun> {
  const log = (line: string): void => console.log(`[rotation ${size}] ${line}`);
  const meter = new StandInMeter();
  const host = failureCounter();
  const stack = await startLocalStack({
    root: ROOT,
    functionsPort: 0,
    emulatorPort: 0,
    // The timer is fired once by hand, so its own schedule must not add rounds during the run.
    settings: { ROTATION_SCHEDULE: '0 0 0 1 1 *', ROTATION_TEST_TIMEOUT_SECONDS: '300' },
    log: (line) => meter.onLog(line),
    onHostOutput: host.onOutput,
  });
  const restoreIdentity = useEmulatorIdentity(stack.emulators);
  try {
    const { control } = stack.emulators;
    const module = benchModule(stack);
    log(`seeding ${size} endpoints (ARM stand-in, registry table, Key Vault)…`);
    const endpoints = await seedEndpoints(control, module, size);
    for (const service of ['identity', 'keyVault', 'arm', 'scoring'] as const)
      control.setFault(service, { latencyMs: LATENCY_MS });
    control.setArmWriteThrottling(THROTTLE);
    control.resetCounters();
    meter.reset();

    const cpu = new CpuSampler();
    cpu.sample();
    const started = Date.now();
    const fired = await fetch(
      `${stack.functionsUrl}/admin/functions/rotationTimer?code=${encodeURIComponent(stack.masterKey)}`,
      { method: 'POST', body: '{}' },
    );
    if (fired.status >= 300) throw new Error(`the timer could not be fired (HTTP ${fired.status})`);

    const pending = new Set(endpoints);
    const samples: NonNullable<ReturnType<CpuSampler['sample']>>[] = [];
    const deadline =
      started + (Math.max(0, 2 * size - THROTTLE.capacity) / THROTTLE.refillPerSecond) * 4_000 + 300_000;
    let lastReport = started;
    while (pending.size > 0 && Date.now() < deadline) {
      await sleep(1000);
      for (const e of [...pending]) if (control.secretVersions(e.secretName).length >= 2) pending.delete(e);
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now();
        const usage = cpu.sample();
        if (usage) samples.push(usage);
        const w = meter.writes(control);
        log(
          `${Math.round((Date.now() - started) / 1000)} s: rotated ${size - pending.size}/${size}, ARM writes ${w.accepted} accepted, ${w.throttled} answered 429` +
            (usage
              ? `, CPU ${usage.tree.toFixed(0)}% of a core (stack) / ${usage.machine.toFixed(0)}% of the machine` +
                `, host waiting for a CPU ${(usage.waits['functions host'] ?? 0).toFixed(0)}% of the time`
              : ''),
        );
      }
    }
    const seconds = (Date.now() - started) / 1000;

    // Let stragglers (duplicate deliveries) finish, so a late second regenerate would be seen.
    const settle = Date.now() + 30_000;
    while (Date.now() < settle && (await queueLength(stack.storageConnectionString, 'rotation-jobs')) > 0)
      await sleep(1000);
    await sleep(3000);

    const doubles = endpoints.filter(
      (e) => meter.regeneratesOf(e.name) > 1 || control.secretVersions(e.secretName).length > 2,
    ).length;
    const poisoned = await queueLength(stack.storageConnectionString, 'rotation-jobs-poison');
    const run: ScaleRun = {
      size,
      seconds,
      writes: meter.writes(control),
      notRotated: pending.size,
      failedRuns: host.failed(),
      poisoned: Math.max(poisoned, host.poison()),
      doubles,
      cpu: samples,
      requests: Object.fromEntries(
        Object.entries(control.counters()).filter(
          ([op]) => /^\w+\.\w+$/.test(op) && !OUTCOME_COUNTERS.test(op),
        ),
      ),
    };
    log(`done: ${JSON.stringify({ ...run, cpu: undefined })}`);
    log(`host output kept: ${(stack.hostOutput().length / 1e6).toFixed(1)} MB`);
    return run;
  } finally {
    restoreIdentity();
    await stack.stop();
  }
}

/** `BENCH_ROTATION_SIZES=1000,5000` (default both). */
function defaultSizes(): number[] {
  return sizesOf(process.env['BENCH_ROTATION_SIZES'] ?? '1000,5000');
}

/**
 * Rotation at scale (issues 3 and 8): for each size, seeds that many Key endpoints, sets 100 ms
 * latency on every stand-in and ARM's write bucket (200, 10/s), fires the real timer function and lets
 * the local Functions host's queue trigger rotate them all through the real SDK clients. Reports total
 * time against the throttling floor ((writes − 200) / 10 s, writes counted at the stand-in), failures,
 * double rotations and the growth of time per endpoint between sizes.
 * Each size runs in a child process: Node reads `NODE_EXTRA_CA_CERTS` only at start, and the identity
 * library caches tokens per process, which a fresh stand-in (new signing key) would reject.
 * @example const results = await rotationAtScale([1000])
 */
export async function rotationAtScale(sizes: number[] = defaultSizes()): Promise<BenchResult[]> {
  const cert = await ensureLocalCertificate(join(ROOT, '.local', 'certs'));
  const runs: ScaleRun[] = [];
  for (const size of sizes) runs.push(await inChild(size, cert.certPath));
  return toResults(runs, THROTTLE);
}

async function inChild(size: number, certPath: string): Promise<ScaleRun> {
  const dir = mkdtempSync(join(tmpdir(), 'rotation-bench-'));
  const out = join(dir, 'run.json');
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [__filename, '--run', String(size), '--out', out], {
      stdio: 'inherit',
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: certPath,
        AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential',
      },
    });
    child.on('exit', resolve);
  });
  try {
    if (code !== 0) throw new Error(`the rotation benchmark of ${size} endpoints exited with ${code}`);
    return JSON.parse(readFileSync(out, 'utf8')) as ScaleRun;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sizesOf(text: string): number[] {
  return text
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** `node dist/test/bench/rotationAtScale.js [1000,5000]` (`--run <size> --out <file>`: one child run). */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--run' && args[2] === '--out' && args[3]) {
    writeFileSync(args[3], JSON.stringify(await runOnce(Number(args[1]))));
    return;
  }
  const results = await rotationAtScale(args[0] ? sizesOf(args[0]) : defaultSizes());
  for (const r of results)
    console.log(
      `${r.met ? 'MET ' : 'MISS'} ${r.name}: ${r.value.toFixed(2)} ${r.unit}` +
        (r.baseline !== undefined
          ? ` (baseline ${r.baseline.toFixed(2)}, ratio ${r.ratio?.toFixed(2)})`
          : '') +
        ` — goal ${r.goal}${r.notes ? ` — ${r.notes}` : ''}`,
    );
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
