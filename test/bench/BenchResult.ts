/**
 * One line of the benchmark report. Absolute values vary by machine, so where a goal is relative the
 * baseline is measured in the same run and `ratio` is `value / baseline`.
 */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  /** Unit of `value` and `baseline`, e.g. `req/s`, `ms`, `µs`, `MiB`, `calls`. */
  readonly unit: string;
  readonly baseline?: number;
  /** What the baseline is, e.g. `empty function, same host`. */
  readonly baselineName?: string;
  readonly ratio?: number;
  /** The goal in words, e.g. `≥ 0.9× baseline`; `reported` for figures without a goal. */
  readonly goal: string;
  /** Whether the goal was met; undefined for figures that are only reported. */
  readonly met?: boolean;
  readonly notes?: string;
}

/** Options given to every suite by `runBenchmarks`. */
export interface BenchRunOptions {
  /** When set, suites that run a Functions host write its V8 CPU profile (`--cpu-prof`) here. */
  readonly profileDir?: string;
}

/** A named group of benchmarks `npm run bench -- <name>` can run alone. */
export interface BenchSuite {
  readonly name: string;
  readonly description: string;
  run(options: BenchRunOptions): Promise<BenchResult[]>;
}
