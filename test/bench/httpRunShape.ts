/** How long the `http` suite measures: rounds per connection count, and the connection counts. */
export interface HttpRunShape {
  readonly rounds: number;
  readonly connections: readonly number[];
}

/** The default: 9 rounds at the goal's 64 connections and at 256; about 8 minutes in all. */
export const DEFAULT_HTTP_RUN: HttpRunShape = { rounds: 9, connections: [64, 256] };

/**
 * Reads `BENCH_HTTP_ROUNDS` (an integer, 3–500) and `BENCH_HTTP_CONNECTIONS` (comma-separated integers,
 * 1–1024). More rounds narrow the interval a verdict is read from: on a 2-core VM a target's speed moves
 * by ±10 % between 3-s rounds, so `BENCH_HTTP_ROUNDS=40 BENCH_HTTP_CONNECTIONS=64` decides a 2 % gap
 * that the default run cannot.
 * @throws Error naming the setting, when a value is not one of those
 */
export function httpRunShape(env: Readonly<Record<string, string | undefined>>): HttpRunShape {
  const rounds = env['BENCH_HTTP_ROUNDS'];
  const connections = env['BENCH_HTTP_CONNECTIONS'];
  return {
    rounds:
      rounds === undefined || rounds === ''
        ? DEFAULT_HTTP_RUN.rounds
        : integer('BENCH_HTTP_ROUNDS', rounds, 3, 500),
    connections:
      connections === undefined || connections === ''
        ? DEFAULT_HTTP_RUN.connections
        : connections.split(',').map((part) => integer('BENCH_HTTP_CONNECTIONS', part.trim(), 1, 1024)),
  };
}

function integer(setting: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new Error(`${setting}: "${text}" is not an integer from ${min} to ${max}`);
  }
  return value;
}
