import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BenchResult, BenchRunOptions, BenchSuite } from './BenchResult';
import { fetchOnce, REPO_ROOT, startBenchStack } from './benchStack';
import { DEFAULT_HTTP_RUN, httpRunShape } from './httpRunShape';
import { compareTargets, type LoadRound, type LoadSummary, type LoadTarget } from './load';
import { type BareServer, startBareServer } from './startBareServer';
import { fixedTokenBody, isTokenBody, median, medianInterval, ratio } from './stats';

/** The connection count the goal names; the managed identity rows run at it only. */
const GOAL_CONNECTIONS = 64;
/** Many short rounds rather than a few long ones: on this shared 2-core machine the speed of a target
 * drifts by ±20 % from one round to the next, and the median of 9 holds still where that of 5 did not
 * (`BENCH_HTTP_ROUNDS` asks for more). */
const ROUND_SECONDS = 3;
const WARMUP_SECONDS = 2;
/** Quiet time after each run: the broker's audit rows are written up to 1 s after their request. */
const SETTLE_MS = 1500;
/** Upstream token lifetime during the run; the stand-in hints a refresh at half of it. */
const TOKEN_LIFETIME_SECONDS = 60;
const REFRESH_WINDOW_MS = (TOKEN_LIFETIME_SECONDS / 2) * 1000;
const GOAL_RATIO = 0.9;

/**
 * Issue 7/8 hot path: warm-cache OAuth token vends through the local Functions host's HTTP path, next to
 * two baselines measured in the same run: (a) a bare Node `http` server (own process) answering a fixed
 * body of the same size, (b) an empty function answering that body through the same host process; plus,
 * reported only, (b) reading its form body first: the one step of the broker's that no token request skips,
 * and the managed identity protocol's GET against (b) asked the same GET.
 * Targets take turns in short rounds (medians reported); every answer must be 200 with a token.
 * Upstream token calls are read from the stand-in's `arm.token` counter.
 */
async function httpHotPath(options: BenchRunOptions): Promise<BenchResult[]> {
  const shape = httpRunShape(process.env);
  const dir = join(REPO_ROOT, '.local', 'bench');
  mkdirSync(dir, { recursive: true });
  const bodyFile = join(dir, 'empty-body.json');
  rmSync(bodyFile, { force: true });
  const bench = await startBenchStack(
    {
      LOCAL_FUNCTIONS_EXTRA_ENTRY_POINTS: join('dist', 'test', 'bench', 'hostFunctions', 'emptyToken.js'),
      BENCH_EMPTY_BODY_FILE: bodyFile,
      BROKER_MIN_TOKEN_LIFETIME_SECONDS: '5',
    },
    options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [],
  );
  let bare: BareServer | undefined;
  try {
    const { control } = bench.stack.emulators;
    control.setEndpointTokenLifetimeSeconds(TOKEN_LIFETIME_SECONDS);
    const first = await fetchOnce(bench.tokenRequest);
    if (first.status !== 200 || !isTokenBody(first.text))
      throw new Error(`the broker did not vend a token (status ${first.status})`);
    const firstFetchMs = Date.now();
    const bytes = Buffer.byteLength(first.text);
    writeFileSync(bodyFile, fixedTokenBody(bytes));
    bare = await startBareServer(bodyFile);
    const targets: LoadTarget[] = [
      bench.tokenRequest,
      {
        ...bench.tokenRequest,
        name: 'empty',
        url: `${bench.stack.functionsUrl}/api/bench/empty`,
      },
      {
        ...bench.tokenRequest,
        name: 'emptyReadingBody',
        url: `${bench.stack.functionsUrl}/api/bench/empty-reading-body`,
      },
      { ...bench.tokenRequest, name: 'bare', url: bare.url, pid: bare.pid },
    ];
    for (const target of targets.slice(1)) {
      const answer = await fetchOnce(target);
      if (answer.status !== 200 || Buffer.byteLength(answer.text) !== bytes)
        throw new Error(`baseline ${target.name} answered ${answer.status} with another body size`);
    }
    const callsBefore = control.counters()['arm.token'] ?? 0;
    const results: BenchResult[] = [];
    for (const connections of shape.connections) {
      const summaries = await compareAt(targets, connections, shape.rounds);
      results.push(...rows(connections, summaries, bytes, Buffer.byteLength(bench.tokenRequest.body ?? '')));
    }
    if (shape.connections.includes(GOAL_CONNECTIONS)) {
      const emptyUrl = `${bench.stack.functionsUrl}/api/bench/empty`;
      results.push(await msiRow(bench.msiRequest, emptyUrl, shape.rounds));
    }
    const calls = (control.counters()['arm.token'] ?? 0) - callsBefore;
    const windows = Math.ceil((Date.now() - firstFetchMs) / REFRESH_WINDOW_MS);
    results.push({
      name: `upstream token calls during the HTTP run (1 scope, ${TOKEN_LIFETIME_SECONDS}-s tokens)`,
      value: calls,
      unit: 'calls',
      baseline: windows,
      baselineName: `refresh windows of ${REFRESH_WINDOW_MS / 1000} s`,
      ratio: windows > 0 ? calls / windows : 0,
      goal: '≤ 1 per scope per refresh window',
      met: calls <= windows,
    });
    return results;
  } finally {
    await bare?.stop();
    await bench.stop();
  }
}

/** A target's summary, refusing the run when any of its answers failed (a fast error is no result). */
function validSummary(summaries: Map<string, LoadSummary>, name: string, connections: number): LoadSummary {
  const summary = summaries.get(name);
  if (!summary) throw new Error(`no measurements for ${name}`);
  if (summary.failures > 0) {
    const codes = summary.rounds.map((r) => JSON.stringify(r.statusCodes)).join(', ');
    throw new Error(
      `invalid run: ${name} had ${summary.failures} failed answers at ${connections} connections (${codes})`,
    );
  }
  return summary;
}

/** `host CPU a µs against b µs per answer`, when both were read. */
function cpuAgainst(target: LoadSummary, baseline: LoadSummary): string | undefined {
  return target.cpuUsPerRequest !== undefined && baseline.cpuUsPerRequest !== undefined
    ? `host CPU ${target.cpuUsPerRequest.toFixed(0)} µs against ${baseline.cpuUsPerRequest.toFixed(0)} µs per answer`
    : undefined;
}

function rows(
  connections: number,
  summaries: Map<string, LoadSummary>,
  bytes: number,
  bodyBytes: number,
): BenchResult[] {
  const get = (name: string): LoadSummary => validSummary(summaries, name, connections);
  const [broker, empty, bare, readingBody] = [
    get('broker'),
    get('empty'),
    get('bare'),
    get('emptyReadingBody'),
  ];
  const at = `${connections} connections`;
  const readingBodyCpu = cpuAgainst(readingBody, empty);
  const vsEmpty = ratio(broker.requestsPerSecond, empty.requestsPerSecond);
  const latency = (label: 'p50' | 'p99', pick: (s: LoadSummary) => number): BenchResult => ({
    name: `HTTP token vend ${label} latency, ${at}`,
    value: pick(broker),
    unit: 'ms',
    baseline: pick(empty),
    baselineName: 'empty function',
    ratio: ratio(pick(broker), pick(empty)),
    goal: 'reported',
    notes: `bare Node http ${pick(bare)} ms`,
  });
  return [
    {
      name: `HTTP token vend, ${at}, warm cache`,
      value: broker.requestsPerSecond,
      unit: 'req/s',
      baseline: empty.requestsPerSecond,
      baselineName: 'empty function, same host',
      ratio: vsEmpty,
      goal: `≥ ${GOAL_RATIO}× baseline`,
      met: vsEmpty !== undefined && vsEmpty >= GOAL_RATIO,
      notes: `${broker.responses.toLocaleString('en-US')} answers, all 200 with a token; ${bytes}-byte body; ${pairedRounds(broker, empty, (r) => r.requestsPerSecond)}`,
    },
    {
      name: `HTTP token vend vs bare Node http, ${at}`,
      value: broker.requestsPerSecond,
      unit: 'req/s',
      baseline: bare.requestsPerSecond,
      baselineName: 'bare Node http',
      ratio: ratio(broker.requestsPerSecond, bare.requestsPerSecond),
      goal: 'reported (machine limit)',
    },
    {
      name: `empty function vs bare Node http, ${at}`,
      value: empty.requestsPerSecond,
      unit: 'req/s',
      baseline: bare.requestsPerSecond,
      baselineName: 'bare Node http',
      ratio: ratio(empty.requestsPerSecond, bare.requestsPerSecond),
      goal: 'reported (the local host’s own cost)',
    },
    {
      name: `empty function reading its ${bodyBytes}-byte form body, ${at}`,
      value: readingBody.requestsPerSecond,
      unit: 'req/s',
      baseline: empty.requestsPerSecond,
      baselineName: 'empty function',
      ratio: ratio(readingBody.requestsPerSecond, empty.requestsPerSecond),
      goal: 'reported (the body read every token request needs)',
      ...(readingBodyCpu !== undefined ? { notes: readingBodyCpu } : {}),
    },
    latency('p50', (s) => s.p50Ms),
    latency('p99', (s) => s.p99Ms),
    ...(broker.cpuUsPerRequest !== undefined && empty.cpuUsPerRequest !== undefined
      ? [cpuRow(at, broker.cpuUsPerRequest, empty.cpuUsPerRequest, cpuNotes(broker, empty, bare))]
      : []),
  ];
}

/**
 * The managed identity protocol (a GET: no body, one header, the query the library parses for every
 * request) against the empty function asked the same GET, at the goal's connection count: the broker's
 * own work (authentication, rate limit, scope, cache, audit, answer) without the OAuth form body.
 * Reported next to the goal, not part of it.
 */
async function msiRow(msi: LoadTarget, emptyUrl: string, rounds: number): Promise<BenchResult> {
  const emptyGet: LoadTarget = { ...msi, name: 'emptyGet', url: `${emptyUrl}${new URL(msi.url).search}` };
  const sizes: number[] = [];
  for (const target of [msi, emptyGet]) {
    const answer = await fetchOnce(target);
    if (answer.status !== 200 || !isTokenBody(answer.text))
      throw new Error(`${target.name} did not answer a token (status ${answer.status})`);
    sizes.push(Buffer.byteLength(answer.text));
  }
  const summaries = await compareAt([msi, emptyGet], GOAL_CONNECTIONS, rounds);
  const broker = validSummary(summaries, msi.name, GOAL_CONNECTIONS);
  const empty = validSummary(summaries, emptyGet.name, GOAL_CONNECTIONS);
  const cpu = cpuAgainst(broker, empty);
  return {
    name: `managed identity token vend (GET, no body), ${GOAL_CONNECTIONS} connections, warm cache`,
    value: broker.requestsPerSecond,
    unit: 'req/s',
    baseline: empty.requestsPerSecond,
    baselineName: 'empty function, same GET',
    ratio: ratio(broker.requestsPerSecond, empty.requestsPerSecond),
    goal: 'reported (the broker without the form body)',
    notes: `${sizes[0]}-byte answer against ${sizes[1]}; ${pairedRounds(broker, empty, (r) => r.requestsPerSecond)}${cpu ? `; ${cpu}` : ''}`,
  };
}

/** The targets in turns at one connection count, with the run's round length, warm-up and settle time. */
function compareAt(
  targets: readonly LoadTarget[],
  connections: number,
  rounds: number,
): Promise<Map<string, LoadSummary>> {
  return compareTargets(targets, {
    connections,
    rounds,
    seconds: ROUND_SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    settleMs: SETTLE_MS,
  });
}

/**
 * The broker's ratio to the empty function round by round (the two ran seconds apart, so slow drift of
 * the machine cancels), with a distribution-free interval for its median: how far this run's verdict
 * can be trusted.
 */
function pairedRounds(
  broker: LoadSummary,
  empty: LoadSummary,
  pick: (round: LoadRound) => number | undefined,
): string {
  const ratios = broker.rounds.flatMap((round, i) => {
    const other = empty.rounds[i];
    const value = other ? ratio(pick(round) ?? NaN, pick(other) ?? NaN) : undefined;
    return value === undefined ? [] : [value];
  });
  if (ratios.length === 0) return 'no paired rounds';
  const interval = medianInterval(ratios);
  const range = interval
    ? `, ${(interval.confidence * 100).toFixed(0)} % interval ${interval.low.toFixed(2)}–${interval.high.toFixed(2)}×`
    : '';
  return `${ratios.length} paired rounds: median ${median(ratios).toFixed(2)}×${range}`;
}

function cpuNotes(broker: LoadSummary, empty: LoadSummary, bare: LoadSummary): string {
  const paired = pairedRounds(broker, empty, (r) => r.cpuUsPerRequest);
  return bare.cpuUsPerRequest === undefined
    ? paired
    : `bare Node http ${bare.cpuUsPerRequest.toFixed(0)} µs; ${paired}`;
}

/**
 * Host CPU per answer, broker vs empty function: the same goal seen without the noise other work on
 * the machine adds to req/s (when the host is CPU-bound, req/s ≈ 1 / CPU per answer, so ≥ 0.9× req/s
 * is ≤ 1.11× CPU). Includes the audit rows the broker writes in the background.
 */
function cpuRow(at: string, broker: number, empty: number, notes: string): BenchResult {
  const cpuRatio = ratio(broker, empty);
  return {
    name: `host CPU per token vend, ${at}`,
    value: broker,
    unit: 'µs',
    baseline: empty,
    baselineName: 'empty function',
    ratio: cpuRatio,
    goal: `≤ ${(1 / GOAL_RATIO).toFixed(2)}× baseline (same goal, CPU view)`,
    met: cpuRatio !== undefined && cpuRatio <= 1 / GOAL_RATIO,
    notes,
  };
}

/** `npm run bench -- http`. */
export const httpSuite: BenchSuite = {
  name: 'http',
  description: `token vend through the local host at ${DEFAULT_HTTP_RUN.connections.join(' and ')} connections (BENCH_HTTP_CONNECTIONS, BENCH_HTTP_ROUNDS) vs an empty function and bare Node http`,
  run: httpHotPath,
};
