import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { sleep } from '../support/waitFor';
import type { BenchResult, BenchSuite } from './BenchResult';
import { fetchOnce, REPO_ROOT, startBenchStack } from './benchStack';
import { isTokenBody, median } from './stats';

const RUNS = 5;
const FIRST_TOKEN_DEADLINE_MS = 30_000;

const elapsedMs = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/** Module import time of the function app in a fresh process, RUNS times. */
async function importTimes(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { stdout } = await promisify(execFile)(process.execPath, [join(__dirname, 'importTime.js')], {
      cwd: REPO_ROOT,
    });
    const line = stdout.trim().split('\n').pop() ?? '';
    times.push((JSON.parse(line) as { ms: number }).ms);
  }
  return times;
}

/**
 * Cold start: against an already running stack (Azurite, stand-ins, registered endpoint and client), a
 * new Functions host process is spawned the way `npm start` spawns it and the OAuth token request is
 * polled until it answers 200 with a token: process start to first token served, with a cold token
 * cache (client lookup in Table storage, managed identity and ARM token calls). Then the module import
 * time of the function app in a fresh `node`. Medians of several runs.
 */
async function coldStart(): Promise<BenchResult[]> {
  const bench = await startBenchStack();
  const listening: number[] = [];
  const firstToken: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const started = process.hrtime.bigint();
      const host = await bench.stack.spawnHost();
      try {
        listening.push(elapsedMs(started));
        const request = { ...bench.tokenRequest, url: `${host.url}/api/oauth2/token` };
        for (;;) {
          const answer = await fetchOnce(request).catch(() => undefined);
          if (answer?.status === 200 && isTokenBody(answer.text)) break;
          if (elapsedMs(started) > FIRST_TOKEN_DEADLINE_MS)
            throw new Error(`no token within ${FIRST_TOKEN_DEADLINE_MS} ms (last status ${answer?.status})`);
          await sleep(10);
        }
        firstToken.push(elapsedMs(started));
      } finally {
        await host.stop();
      }
    }
  } finally {
    await bench.stop();
  }
  const imports = await importTimes();
  const list = (values: number[]): string => values.map((v) => v.toFixed(0)).join(', ');
  const first = median(firstToken);
  const imported = median(imports);
  return [
    {
      name: `cold start: process start to first token served (median of ${RUNS})`,
      value: first,
      unit: 'ms',
      goal: '< 1000 ms',
      met: first < 1000,
      notes: `runs ${list(firstToken)} ms; listening after ${median(listening).toFixed(0)} ms`,
    },
    {
      name: `module import time of the function app (median of ${RUNS})`,
      value: imported,
      unit: 'ms',
      goal: '< 300 ms',
      met: imported < 300,
      notes: `runs ${list(imports)} ms`,
    },
  ];
}

/** `npm run bench -- cold`. */
export const coldStartSuite: BenchSuite = {
  name: 'cold',
  description: 'process start to first token served, and module import time of dist/functions',
  run: coldStart,
};
