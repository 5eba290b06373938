import { readdirSync, readFileSync } from 'node:fs';

import type { EmulatorControl } from '../../local/emulators';

/** ARM operations the stand-in counts against its write bucket (`write: true` in `local/emulators/arm.ts`). */
const WRITE_OPERATIONS = [
  'arm.createOrUpdate',
  'arm.listKeys',
  'arm.regenerateKeys',
  'arm.token',
  'arm.serverless.listKeys',
  'arm.serverless.regenerateKeys',
] as const;

/** `[emulators] POST /subscriptions/…/onlineEndpoints/<name>/regenerateKeys -> 202 (arm.regenerateKeys)` */
const REGENERATE_LINE = /^\[emulators\] POST \S*\/onlineEndpoints\/([^/\s]+)\/regenerateKeys -> 2\d\d \(/i;

/** ARM writes as the stand-in saw them. */
export interface WriteCounts {
  /** Writes that took a token from the bucket (every write request that was not answered 429). */
  readonly accepted: number;
  /** Write requests refused with 429 + Retry-After. */
  readonly throttled: number;
  /** Accepted writes by operation. */
  readonly byOperation: Readonly<Record<string, number>>;
}

/**
 * Counts what the rotation benchmark needs at the stand-in: ARM writes (from the stand-in's own
 * counters) and accepted regenerateKeys per endpoint (from its request log, which names the path),
 * so that a double rotation is seen where it happens, not where the app says it happened.
 */
export class StandInMeter {
  private readonly regenerates = new Map<string, number>();

  /** Feed every `[emulators] …` log line of the stack here. */
  readonly onLog = (line: string): void => {
    const m = REGENERATE_LINE.exec(line);
    if (m?.[1]) {
      const name = decodeURIComponent(m[1]);
      this.regenerates.set(name, (this.regenerates.get(name) ?? 0) + 1);
    }
  };

  /** Accepted and throttled ARM writes since the counters were last reset. */
  writes(control: EmulatorControl): WriteCounts {
    const counters = control.counters();
    const byOperation: Record<string, number> = {};
    let total = 0;
    for (const op of WRITE_OPERATIONS) {
      const n = counters[op] ?? 0;
      if (n > 0) byOperation[op] = n;
      total += n;
    }
    const throttled = counters['arm.throttled'] ?? 0;
    return { accepted: total - throttled, throttled, byOperation };
  }

  /** Accepted regenerateKeys requests of one endpoint (by ARM name). */
  regeneratesOf(name: string): number {
    return this.regenerates.get(name) ?? 0;
  }

  /** Forgets the per-endpoint counts (after seeding). */
  reset(): void {
    this.regenerates.clear();
  }
}

/**
 * CPU used by this process and its descendants (Azurite, the Functions host), from `/proc`, so the
 * benchmark can tell whether the machine rather than the throttle was the limit. Linux only; elsewhere
 * it reports nothing.
 */
export class CpuSampler {
  private last?: {
    parts: Record<string, number>;
    waits: Record<string, number>;
    machine: { busy: number; total: number };
    at: number;
  };
  private readonly ticksPerSecond = 100;

  /**
   * Since the previous call: `tree` = share of one core used by the process tree (100 = one core
   * busy), `parts` = the same per process (this one holds the stand-ins; Azurite; the Functions host),
   * `machine` = share of all cores busy, whoever used them (other work on a shared machine), `waits` =
   * share of the time each process's main thread (its event loop) was ready to run but waiting for a
   * CPU (`/proc/<pid>/schedstat`): high means the machine, not the work, is the limit.
   */
  sample():
    | { tree: number; machine: number; parts: Record<string, number>; waits: Record<string, number> }
    | undefined {
    const parts = this.partTicks();
    const machine = this.machineTicks();
    if (!parts || machine === undefined) return undefined;
    const waits = this.partWaits();
    const at = Date.now();
    const previous = this.last;
    this.last = { parts, waits, machine, at };
    if (!previous || at === previous.at) return undefined;
    const seconds = (at - previous.at) / 1000;
    const share: Record<string, number> = {};
    for (const [name, ticks] of Object.entries(parts))
      share[name] = ((ticks - (previous.parts[name] ?? 0)) / this.ticksPerSecond / seconds) * 100;
    const waited: Record<string, number> = {};
    for (const [name, ns] of Object.entries(waits))
      waited[name] = ((ns - (previous.waits[name] ?? 0)) / 1e9 / seconds) * 100;
    const total = machine.total - previous.machine.total;
    return {
      tree: Object.values(share).reduce((a, b) => a + b, 0),
      machine: total > 0 ? ((machine.busy - previous.machine.busy) / total) * 100 : 0,
      parts: share,
      waits: waited,
    };
  }

  private partWaits(): Record<string, number> {
    const waits: Record<string, number> = { 'stand-ins': this.runQueueNs(process.pid) };
    for (const child of this.children(process.pid)) {
      const name = this.label(child);
      waits[name] = (waits[name] ?? 0) + this.runQueueNs(child);
    }
    return waits;
  }

  /** Nanoseconds the process's main thread spent runnable but not running. */
  private runQueueNs(pid: number): number {
    try {
      return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1] ?? 0);
    } catch {
      return 0;
    }
  }

  private partTicks(): Record<string, number> | undefined {
    const own = this.ownTicks(process.pid);
    if (own === undefined) return undefined;
    const parts: Record<string, number> = { 'stand-ins': own };
    for (const child of this.children(process.pid)) {
      const name = this.label(child);
      parts[name] = (parts[name] ?? 0) + (this.treeTicks(child) ?? 0);
    }
    return parts;
  }

  private label(pid: number): string {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('azurite')) return 'azurite';
      if (cmd.includes('host/main')) return 'functions host';
      return 'other';
    } catch {
      return 'other';
    }
  }

  private machineTicks(): { busy: number; total: number } | undefined {
    try {
      const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
      const values = cpu.split(/\s+/).slice(1).filter(Boolean).map(Number);
      const total = values.reduce((a, b) => a + b, 0);
      const idle = (values[3] ?? 0) + (values[4] ?? 0);
      return { busy: total - idle, total };
    } catch {
      return undefined;
    }
  }

  private ownTicks(pid: number): number | undefined {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the `(comm)`: utime and stime are the 14th and 15th of the whole line.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]);
    } catch {
      return undefined;
    }
  }

  private treeTicks(pid: number): number | undefined {
    const own = this.ownTicks(pid);
    if (own === undefined) return undefined;
    return this.children(pid).reduce((sum, child) => sum + (this.treeTicks(child) ?? 0), own);
  }

  private children(pid: number): number[] {
    try {
      return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
        readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
          .split(' ')
          .filter((s) => s.trim() !== '')
          .map(Number),
      );
    } catch {
      return [];
    }
  }
}
