import type { BenchSuite } from './BenchResult';

/**
 * The suites named on the command line, in the order given (all of them when none is named).
 * @throws Error naming the known suites when a name is unknown
 */
export function selectSuites(all: readonly BenchSuite[], names: readonly string[]): BenchSuite[] {
  if (names.length === 0) return [...all];
  return names.map((name) => {
    const suite = all.find((s) => s.name === name.toLowerCase());
    if (!suite)
      throw new Error(`Unknown benchmark suite "${name}"; choose from ${all.map((s) => s.name).join(', ')}.`);
    return suite;
  });
}
