import autocannon from 'autocannon';

import { sleep } from '../support/waitFor';
import { processCpuMs } from './processCpu';
import { isTokenBody, median } from './stats';

/** One HTTP endpoint under load: every request is the same. */
export interface LoadTarget {
  readonly name: string;
  readonly url: string;
  readonly method: 'POST' | 'GET';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** The process that serves the target, whose CPU time is charged to it. */
  readonly pid?: number | undefined;
}

/** What one short autocannon run measured. */
export interface LoadRound {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly responses: number;
  /** Responses that were not 200, bodies that were not a token, connection errors and timeouts. */
  readonly failures: number;
  readonly statusCodes: Readonly<Record<string, number>>;
  /** CPU time of the serving process per answer (µs), when its CPU time can be read. */
  readonly cpuUsPerRequest: number | undefined;
}

/**
 * Runs autocannon against one target and checks every answer: status 200 and a body with a bearer
 * token (`isTokenBody`), so a run that errors or throttles cannot pass for a fast one. The serving
 * process's CPU time is read from the start of the run to the end of a quiet `settleMs` after it, so
 * work a request leaves behind (e.g. audit rows written a second later) is charged to its own run.
 * @param connections - concurrent keep-alive connections
 * @param seconds - duration of the run
 * @param settleMs - idle time after the run, inside the CPU window
 */
export async function runLoad(
  target: LoadTarget,
  connections: number,
  seconds: number,
  settleMs = 0,
): Promise<LoadRound> {
  const cpuBefore = processCpuMs(target.pid);
  const result = await autocannon({
    url: target.url,
    method: target.method,
    headers: { ...target.headers },
    ...(target.body !== undefined ? { body: target.body } : {}),
    connections,
    duration: seconds,
    timeout: 10,
    verifyBody: isTokenBody,
  });
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, stat]) => [code, Number(stat.count)]),
  );
  const responses = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  const not200 = responses - (statusCodes['200'] ?? 0);
  if (settleMs > 0) await sleep(settleMs);
  const cpuAfter = processCpuMs(target.pid);
  return {
    requestsPerSecond: (statusCodes['200'] ?? 0) / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    responses,
    failures: not200 + result.mismatches + result.errors + result.timeouts,
    statusCodes,
    cpuUsPerRequest:
      cpuBefore === undefined || cpuAfter === undefined || responses === 0
        ? undefined
        : ((cpuAfter - cpuBefore) * 1000) / responses,
  };
}

/** Medians over rounds of one target, plus the totals needed to judge the run valid. */
export interface LoadSummary {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly responses: number;
  readonly failures: number;
  /** Median CPU time of the serving process per answer (µs), when known for every round. */
  readonly cpuUsPerRequest: number | undefined;
  readonly rounds: readonly LoadRound[];
}

/** Summarises rounds of one target by their medians (machine noise hits single rounds). */
export function summarizeRounds(rounds: readonly LoadRound[]): LoadSummary {
  const cpu = rounds.map((r) => r.cpuUsPerRequest);
  return {
    requestsPerSecond: median(rounds.map((r) => r.requestsPerSecond)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    responses: rounds.reduce((n, r) => n + r.responses, 0),
    failures: rounds.reduce((n, r) => n + r.failures, 0),
    cpuUsPerRequest: cpu.every((v) => v !== undefined) ? median(cpu) : undefined,
    rounds,
  };
}

/**
 * Warms every target up, then runs `rounds` rounds in which each target gets one run in turn, so
 * whatever else the machine does hits all targets alike. Returns each target's summary by name.
 */
export async function compareTargets(
  targets: readonly LoadTarget[],
  options: { connections: number; rounds: number; seconds: number; warmupSeconds: number; settleMs: number },
): Promise<Map<string, LoadSummary>> {
  for (const target of targets) await runLoad(target, options.connections, options.warmupSeconds);
  const rounds = new Map<string, LoadRound[]>(targets.map((t) => [t.name, []]));
  for (let i = 0; i < options.rounds; i++) {
    // Each round starts with a different target, so no target always runs right after the same one.
    for (let j = 0; j < targets.length; j++) {
      const target = targets[(i + j) % targets.length] as LoadTarget;
      rounds
        .get(target.name)
        ?.push(await runLoad(target, options.connections, options.seconds, options.settleMs));
    }
  }
  return new Map([...rounds].map(([name, list]) => [name, summarizeRounds(list)]));
}
