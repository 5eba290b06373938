import { readFileSync } from 'node:fs';

import { timeSpanMs } from '../../shared/settingSchema';

/** The host.json settings the local host honours. */
export interface HostSettings {
  readonly routePrefix: string;
  /**
   * host.json `functionTimeout`, or the app setting `AzureFunctionsJobHost__functionTimeout` that overrides
   * it: an invocation still running after this fails (the real host then restarts the worker). Unset: 30
   * min, the default of the Flex Consumption, Premium and Dedicated plans; `-1`: no limit (undefined).
   */
  readonly functionTimeoutMs: number | undefined;
  readonly queues: {
    readonly maxDequeueCount: number;
    /** Delay before a failed message becomes visible again (host.json `visibilityTimeout`). */
    readonly visibilityTimeoutMs: number;
    readonly batchSize: number;
    /**
     * A new batch is fetched once this few messages are still running (host.json `newBatchThreshold`;
     * runtime default `batchSize / 2` on one core), so up to `batchSize + newBatchThreshold` run at once.
     */
    readonly newBatchThreshold: number;
    readonly messageEncoding: 'base64' | 'none';
    readonly maxPollingIntervalMs: number;
  };
}

/**
 * Parses a .NET TimeSpan `[d.]hh:mm:ss[.fff]` into milliseconds, as the app's own settings read one
 * ({@link timeSpanMs}), so the local host and the app agree on what `functionTimeout` means.
 */
export function timeSpanToMs(value: string): number {
  const ms = timeSpanMs(value.trim());
  if (ms === undefined) throw new Error(`Invalid TimeSpan "${value}" (expected hh:mm:ss)`);
  return ms;
}

const DEFAULT_FUNCTION_TIMEOUT_MS = 30 * 60 * 1000;

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

/** The app setting through which the host in Azure takes `functionTimeout` over host.json's. */
const FUNCTION_TIMEOUT_SETTING = 'AzureFunctionsJobHost__functionTimeout';

/**
 * Reads host.json. Defaults are the Functions runtime's, except the maximum polling interval: 2 s
 * (runtime: 1 min) unless host.json sets one, so local queue tests are not minute-slow.
 * @param env - the app settings: `AzureFunctionsJobHost__functionTimeout` overrides host.json's
 *   `functionTimeout`, as in Azure
 */
export function readHostJson(path: string, env: NodeJS.ProcessEnv = {}): HostSettings {
  const json = obj(JSON.parse(readFileSync(path, 'utf8')));
  const ext = obj(json['extensions']);
  const http = obj(ext['http']);
  const q = obj(ext['queues']);
  const num = (v: unknown, d: number): number => (typeof v === 'number' ? v : d);
  const span = (v: unknown, d: number): number => (typeof v === 'string' ? timeSpanToMs(v) : d);
  const batchSize = num(q['batchSize'], 16);
  const override = env[FUNCTION_TIMEOUT_SETTING]?.trim();
  const timeout = override || json['functionTimeout'];
  let functionTimeoutMs: number | undefined;
  try {
    functionTimeoutMs =
      timeout === '-1' || timeout === -1 ? undefined : span(timeout, DEFAULT_FUNCTION_TIMEOUT_MS);
  } catch (error) {
    if (!override) throw error;
    throw new Error(`App setting ${FUNCTION_TIMEOUT_SETTING}: ${(error as Error).message}`);
  }
  return {
    functionTimeoutMs,
    routePrefix:
      typeof http['routePrefix'] === 'string' ? http['routePrefix'].replace(/^\/+|\/+$/g, '') : 'api',
    queues: {
      maxDequeueCount: num(q['maxDequeueCount'], 5),
      visibilityTimeoutMs: span(q['visibilityTimeout'], 0),
      batchSize,
      newBatchThreshold: num(q['newBatchThreshold'], Math.floor(batchSize / 2)),
      messageEncoding: q['messageEncoding'] === 'none' ? 'none' : 'base64',
      maxPollingIntervalMs: span(q['maxPollingInterval'], 2000),
    },
  };
}

/** Resolves `%SETTING%` references from the environment, like the host does for binding values. */
export function resolveSettings(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/%([^%]+)%/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) throw new Error(`App setting "${name}" referenced as %${name}% is not set`);
    return v;
  });
}
