import type { BenchResult } from './BenchResult';
import type { WriteCounts } from './rotationAtScaleMeter';

/** What one run of the rotation benchmark measured. */
export interface ScaleRun {
  readonly size: number;
  /** From firing the timer until the last endpoint's new main-secret version existed. */
  readonly seconds: number;
  readonly writes: WriteCounts;
  readonly notRotated: number;
  /** `rotate => failed` lines of the Functions host (a run that threw; it may have been retried). */
  readonly failedRuns: number;
  /** Jobs that reached the poison queue. */
  readonly poisoned: number;
  /** Endpoints with more than one accepted regenerateKeys, or more than one new main-secret version. */
  readonly doubles: number;
  readonly cpu: ReadonlyArray<{
    tree: number;
    machine: number;
    parts: Record<string, number>;
    waits: Record<string, number>;
  }>;
  /** Every request the stand-ins served during the run, by operation (identity, Key Vault, ARM, scoring). */
  readonly requests: Readonly<Record<string, number>>;
}

/** The throttling floor: the bucket's burst is free, every further write waits for a refill. */
export function floorSeconds(writes: number, bucket: { capacity: number; refillPerSecond: number }): number {
  return Math.max(0, writes - bucket.capacity) / bucket.refillPerSecond;
}

function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
}

/** Turns runs into the bench's result rows: time vs floor, failures and doubles per size, then growth. */
export function toResults(
  runs: readonly ScaleRun[],
  bucket: { capacity: number; refillPerSecond: number },
): BenchResult[] {
  const results: BenchResult[] = [];
  for (const run of runs) {
    const floor = floorSeconds(run.writes.accepted, bucket);
    const ratio = floor > 0 ? run.seconds / floor : Number.POSITIVE_INFINITY;
    const ops = Object.entries(run.writes.byOperation)
      .map(([op, n]) => `${op.replace(/^arm\./, '')} ${n}`)
      .join(', ');
    const cpuTree = Math.max(0, ...run.cpu.map((c) => c.tree));
    const names = [...new Set(run.cpu.flatMap((c) => Object.keys(c.parts)))];
    const parts = names
      .map(
        (n) =>
          `${n} ${mean(run.cpu.map((c) => c.parts[n] ?? 0)).toFixed(0)}%, waiting for a CPU ${mean(run.cpu.map((c) => c.waits[n] ?? 0)).toFixed(0)}% of the time`,
      )
      .join(', ');
    const cpu = run.cpu.length
      ? `; CPU of the stack: mean ${mean(run.cpu.map((c) => c.tree)).toFixed(0)}% (${parts}), peak ${cpuTree.toFixed(0)}% of one core; machine mean ${mean(run.cpu.map((c) => c.machine)).toFixed(0)}% busy`
      : '';
    const served = Object.values(run.requests).reduce((a, b) => a + b, 0);
    results.push(
      {
        name: `rotation of ${run.size} endpoints: total time (s)`,
        value: run.seconds,
        unit: 's',
        baseline: floor,
        ratio,
        goal: `≤ 1.5× the throttling floor (writes − ${bucket.capacity}) / ${bucket.refillPerSecond} s`,
        met: run.notRotated === 0 && ratio <= 1.5,
        notes:
          `${run.writes.accepted} ARM writes (${ops}), ${run.writes.throttled} answered 429; ` +
          `${run.size - run.notRotated}/${run.size} rotated; ${(served / run.size).toFixed(1)} stand-in requests per endpoint${cpu}`,
      },
      {
        name: `rotation of ${run.size} endpoints: failures`,
        value: run.failedRuns + run.poisoned + run.notRotated,
        unit: 'count',
        goal: '0 (failed runs, poison messages, endpoints not rotated)',
        met: run.failedRuns + run.poisoned + run.notRotated === 0,
        notes: `failed runs ${run.failedRuns}, poison ${run.poisoned}, not rotated ${run.notRotated}`,
      },
      {
        name: `rotation of ${run.size} endpoints: double rotations`,
        value: run.doubles,
        unit: 'count',
        goal: '0 (one regenerateKeys and one new main-secret version per endpoint, counted at the stand-in)',
        met: run.doubles === 0,
      },
    );
  }
  const [small, large] = [runs[0], runs[runs.length - 1]];
  if (small && large && large.size > small.size) {
    const perEndpoint = (r: ScaleRun): number => r.seconds / r.size;
    const floorPer = (r: ScaleRun): number => floorSeconds(r.writes.accepted, bucket) / r.size;
    const growth = perEndpoint(large) / perEndpoint(small);
    const floorGrowth = floorPer(large) / floorPer(small);
    results.push({
      name: `rotation ${small.size} → ${large.size}: growth of time per endpoint`,
      value: growth,
      unit: '×',
      baseline: floorGrowth,
      ratio: growth / floorGrowth,
      goal: 'linear: time per endpoint grows no more than the floor’s own (the free burst weighs less at scale), +20%',
      met: growth <= floorGrowth * 1.2,
      notes: `${perEndpoint(small).toFixed(3)} s → ${perEndpoint(large).toFixed(3)} s per endpoint`,
    });
  }
  return results;
}
