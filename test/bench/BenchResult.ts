/**
 * One benchmark figure as `npm run bench` reports it: a value, what it is compared with when there is
 * a baseline measured in the same run, the goal in words and whether it was met.
 */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: number;
  /** value / baseline, when a baseline exists. */
  readonly ratio?: number;
  readonly goal: string;
  readonly met: boolean;
  readonly notes?: string;
}
