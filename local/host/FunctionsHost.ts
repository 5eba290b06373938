import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';

import { activateRegistry, appEnvironment, loadEntryPoints } from './coreApiShim';
import { readHostJson } from './hostJson';
import { createHttpServer } from './httpServer';
import { HOST_API_REASON, type InvocationInput, invokeFunction } from './invocation';
import { startQueues } from './queues';
import { FunctionRegistry, type FunctionSummary, type RegisteredFunction, triggerKind } from './registry';
import { startTimers } from './timers';

export type { FunctionSummary } from './registry';

/** Options of {@link startFunctionsHost}. */
export interface FunctionsHostOptions {
  /** HTTP port on 127.0.0.1; 0 picks a free one. */
  readonly port: number;
  readonly masterKey: string;
  readonly defaultKey: string;
  /** Absolute `.js` entry point files (usually globbed from package.json `main`). */
  readonly entryPoints: string[];
  /** Becomes `AzureWebJobsStorage` unless the environment already names another value. */
  readonly storageConnectionString: string;
  readonly hostJsonPath: string;
  readonly log?: (line: string) => void;
  /**
   * App settings: applied to the app's process environment (restored on stop), as the real host
   * passes them to the worker. @default process.env
   */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The app refused to start: one of its `appStart` hooks threw (for this app, a missing or malformed
 * setting). Its message is the app's own, meant for the operator; where in the app it was thrown is not.
 */
export class AppStartFailedError extends Error {
  constructor(cause: unknown) {
    super(`The app did not start: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'AppStartFailedError';
  }
}

/** A running in-process Functions host. */
export interface RunningFunctionsHost {
  /** `http://127.0.0.1:<port>`; functions are under `/<routePrefix>`. */
  readonly url: string;
  functions(): FunctionSummary[];
  stop(): Promise<void>;
}

/**
 * Runs a Functions v4 Node app the way the Functions host and Node worker do: loads the entry points
 * (registrations captured through `@azure/functions-core`), runs `appStart` hooks, then serves HTTP
 * triggers, fires timers and polls storage queues until {@link RunningFunctionsHost.stop}, which stops
 * triggers, lets requests being answered and running invocations finish and runs `appTerminate` hooks.
 * @example
 * const host = await startFunctionsHost({
 *   port: 0, masterKey, defaultKey, entryPoints, storageConnectionString, hostJsonPath,
 * });
 */
export async function startFunctionsHost(opts: FunctionsHostOptions): Promise<RunningFunctionsHost> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const env = appSettingsOf(opts);
  const settings = readHostJson(opts.hostJsonPath, env);
  const restoreEnv = applyAppSettings(env);
  const registry = new FunctionRegistry();
  loadEntryPoints(opts.entryPoints, registry);
  try {
    await runAppStartHooks(registry, dirname(opts.hostJsonPath));
  } catch (error) {
    restoreEnv();
    throw error;
  }

  const all = [...registry.functions.values()];
  const inFlight = new Set<Promise<unknown>>();
  const run = (fn: RegisteredFunction, input: InvocationInput): Promise<unknown> => {
    const p = invokeFunction(registry, fn, input, log, settings.functionTimeoutMs);
    inFlight.add(p);
    void p.catch(() => undefined).finally(() => inFlight.delete(p));
    return p;
  };
  const timers = startTimers({
    functions: all.filter((f) => triggerKind(f) === 'timertrigger'),
    env,
    run,
    log,
  });
  const queues = startQueues({
    functions: all.filter((f) => triggerKind(f) === 'queuetrigger'),
    env,
    settings: settings.queues,
    run,
    log,
  });
  const server = createHttpServer({
    registry,
    keys: { masterKey: opts.masterKey, defaultKey: opts.defaultKey },
    routePrefix: settings.routePrefix,
    functionTimeoutMs: settings.functionTimeoutMs,
    log,
    runNow: (fn, input) => {
      if (triggerKind(fn) === 'timertrigger') void timers.runNow(fn);
      else if (triggerKind(fn) === 'queuetrigger') void queues.runNow(fn, input);
      else void run(fn, { data: { string: input ?? '' }, reason: HOST_API_REASON }).catch(() => undefined);
    },
  });
  const closeServer = drainingClose(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const line of banner(registry.summaries(), url, settings.routePrefix)) log(line);

  let stopping: Promise<void> | undefined;
  return {
    url,
    functions: () => registry.summaries(),
    stop: () =>
      (stopping ??= (async () => {
        await closeServer();
        await Promise.all([timers.stop(), queues.stop()]);
        await Promise.all([...inFlight].map((p) => p.catch(() => undefined)));
        await registry
          .runHooks('appTerminate', {
            hookData: registry.appLevelOnlyHookData,
            appHookData: registry.appHookData,
          })
          .catch((e: unknown) => {
            log(`appTerminate hook failed: ${e instanceof Error ? e.message : String(e)}`);
          });
        restoreEnv();
      })()),
  };
}

/** The app settings: the given environment, with `AzureWebJobsStorage` defaulted when unset or empty. */
function appSettingsOf(opts: FunctionsHostOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env) };
  if (!env['AzureWebJobsStorage']) env['AzureWebJobsStorage'] = opts.storageConnectionString;
  return env;
}

/**
 * Writes the app settings into the environment the app reads, as the real host hands them to the worker.
 * @returns a function that puts back the values they replaced (when the host stops or fails to start)
 */
function applyAppSettings(env: NodeJS.ProcessEnv): () => void {
  const appEnv = appEnvironment();
  const previous = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || appEnv[key] === value) continue;
    previous.set(key, appEnv[key]);
    appEnv[key] = value;
  }
  return () => {
    for (const [key, value] of previous) {
      if (value === undefined) delete appEnv[key];
      else appEnv[key] = value;
    }
  };
}

/** Runs the app's `appStart` hooks with its registry active; a hook that throws fails the start. */
async function runAppStartHooks(registry: FunctionRegistry, functionAppDirectory: string): Promise<void> {
  activateRegistry(registry);
  try {
    await registry.runHooks('appStart', {
      hookData: registry.appLevelOnlyHookData,
      appHookData: registry.appHookData,
      functionAppDirectory,
    });
  } catch (error) {
    throw new AppStartFailedError(error);
  } finally {
    activateRegistry(undefined);
  }
}

/**
 * Tracks the requests `server` is answering and returns how to close it as the real host does before it
 * shuts down: stop accepting, let those requests be answered, then drop the idle keep-alive connections.
 */
function drainingClose(server: Server): () => Promise<void> {
  const answering = new Set<Promise<void>>();
  server.on('request', (_req: unknown, res: ServerResponse) => {
    const p = new Promise<void>((resolve) => res.once('close', resolve));
    answering.add(p);
    void p.then(() => answering.delete(p));
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      void Promise.all([...answering]).then(() => server.closeAllConnections());
    });
}

/** The function list as Core Tools prints it at start. */
function banner(functions: FunctionSummary[], url: string, prefix: string): string[] {
  const lines = ['', 'Functions:', ''];
  for (const f of functions) {
    const line =
      f.route !== undefined
        ? `[${(f.methods ?? []).join(',')}] ${url}/${prefix === '' ? '' : `${prefix}/`}${f.route}`
        : f.trigger;
    lines.push(`\t${f.name}: ${line}`, '');
  }
  lines.push(`Functions host listening on ${url}`);
  return lines;
}
