import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

import type { BenchResult, BenchRunOptions, BenchSuite } from './BenchResult';
import { REPO_ROOT } from './benchStack';
import { coldStartSuite } from './coldStart';
import { httpSuite } from './httpHotPath';
import { inProcessSuite } from './inProcess';
import { describeMachine, machineLine, renderMarkdown } from './report';
import { rotationAtScale } from './rotationAtScale';
import { selectSuites } from './selectSuites';

/** Every suite, in the order a full run takes them. Adding one is one line. */
const SUITES: readonly BenchSuite[] = [
  inProcessSuite,
  httpSuite,
  coldStartSuite,
  {
    name: 'rotation',
    description:
      'rotation of 1,000 and 5,000 endpoints against the throttled stand-ins (BENCH_ROTATION_SIZES)',
    run: () => rotationAtScale(),
  },
];

/**
 * `npm run bench [-- <suite>…] [--profile]`: runs the named suites (all by default), prints the
 * machine and a Markdown table, and writes `bench-results/latest.json` and `latest.md`. `--profile`
 * writes the Functions host's CPU profile to `bench-results/profiles/`. `BENCH_NOTE` adds a note on
 * what else ran on the machine. A suite that fails is reported as such and makes the exit code 1.
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const suites = selectSuites(
    SUITES,
    args.filter((a) => !a.startsWith('--')),
  );
  const outDir = join(REPO_ROOT, 'bench-results');
  const options: BenchRunOptions = args.includes('--profile') ? { profileDir: join(outDir, 'profiles') } : {};
  const machine = describeMachine();
  const measuredAt = new Date();
  console.log(`Benchmarks on ${machineLine(machine)} (load average ${machine.loadAverage})`);
  const results: BenchResult[] = [];
  let failed = false;
  for (const suite of suites) {
    console.log(`- ${suite.name}: ${suite.description}…`);
    const started = Date.now();
    try {
      results.push(...(await suite.run(options)));
    } catch (error) {
      failed = true;
      const message = error instanceof Error ? error.message : String(error);
      console.error(`  ${suite.name} failed: ${message}`);
      results.push({
        name: `${suite.name} suite`,
        value: Number.NaN,
        unit: '',
        goal: 'runs',
        met: false,
        notes: message.split('\n')[0] ?? '',
      });
    }
    console.log(`  done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  const endLoad = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  const note = `Load average ${endLoad} at the end. ${process.env['BENCH_NOTE'] ?? ''}`.trim();
  const markdown = renderMarkdown(results, machine, note, measuredAt);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    join(outDir, 'latest.json'),
    JSON.stringify({ measuredAt, machine, note, suites: suites.map((s) => s.name), results }, null, 2),
  );
  writeFileSync(join(outDir, 'latest.md'), `${markdown}\n`);
  console.log(`\n${markdown}`);
  if (failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
