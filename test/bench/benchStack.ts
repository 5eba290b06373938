import { join } from 'node:path';

import { call, DEMO_ARM } from '../../local/demo';
import { type LocalStack, startLocalStack } from '../../local/stack';
import type { LoadTarget } from './load';

/** The endpoint and client the benchmarks use. */
export const BENCH_ENDPOINT = 'bench-token';
const BENCH_CLIENT = 'bench-client';

/** Repository root (the benchmarks run from `dist/test/bench`). */
export const REPO_ROOT = join(__dirname, '..', '..', '..');

/** The local stack with one AMLToken endpoint and a broker client allowed to call it without limit. */
export interface BenchStack {
  readonly stack: LocalStack;
  /** The OAuth client credentials request for the bench endpoint (Basic authentication). */
  readonly tokenRequest: LoadTarget;
  /** The App Service managed identity request for the same endpoint (a GET: no body to read). */
  readonly msiRequest: LoadTarget;
  stop(): Promise<void>;
}

/**
 * Starts the whole local stack exactly as `npm start` does (Azurite, the HTTPS stand-ins, the Functions
 * host running `functions/` unchanged), minus the demo's rotation schedule, so nothing but the benchmark
 * runs, and registers the bench endpoint and client through the app's own admin API. The client's
 * rate limit is the highest the API accepts, so the broker never throttles the load.
 * @param settings - more app settings for the host (e.g. extra local-host entry points)
 * @param hostNodeArgs - Node options for the host process (e.g. `--cpu-prof`)
 */
export async function startBenchStack(
  settings: Readonly<Record<string, string>> = {},
  hostNodeArgs: readonly string[] = [],
): Promise<BenchStack> {
  const stack = await startLocalStack({
    root: REPO_ROOT,
    functionsPort: 0,
    emulatorPort: 0,
    hostNodeArgs,
    settings: {
      // The timer stays quiet: no rotation competes with the load (once a year, on 1 January).
      ROTATION_SCHEDULE: '0 0 0 1 1 *',
      ...settings,
    },
  });
  try {
    const { control } = stack.emulators;
    control.addWorkspace(DEMO_ARM);
    control.addOnlineEndpoint({ ...DEMO_ARM, name: BENCH_ENDPOINT, authMode: 'AMLToken' });
    await call(stack, 'POST', 'manage/endpoints', {
      id: BENCH_ENDPOINT,
      kind: 'onlineEndpoint',
      arm: { ...DEMO_ARM, name: BENCH_ENDPOINT },
      authMode: 'AMLToken',
      secretName: `${BENCH_ENDPOINT}-key`,
      brokerKeyAccess: false,
    });
    const created = (await call(stack, 'POST', 'manage/clients', {
      id: BENCH_CLIENT,
      displayName: 'Benchmark client',
      allowedScopes: [BENCH_ENDPOINT],
      rateLimitPerMinute: 1_000_000,
    })) as { client: { id: string }; primarySecret: string };
    const basic = Buffer.from(`${created.client.id}:${created.primarySecret}`).toString('base64');
    return {
      stack,
      tokenRequest: {
        name: 'broker',
        url: `${stack.functionsUrl}/api/oauth2/token`,
        pid: stack.host.pid,
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=client_credentials&scope=${BENCH_ENDPOINT}`,
      },
      msiRequest: {
        name: 'msi',
        url: `${stack.functionsUrl}/api/msi/token?resource=${BENCH_ENDPOINT}&api-version=2019-08-01&client_id=${created.client.id}`,
        pid: stack.host.pid,
        method: 'GET',
        headers: { 'x-identity-header': created.primarySecret },
      },
      stop: () => stack.stop(),
    };
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

/** Sends one request of `target` with fetch and returns its status and body text. */
export async function fetchOnce(target: LoadTarget): Promise<{ status: number; text: string }> {
  const response = await fetch(target.url, {
    method: target.method,
    headers: { ...target.headers },
    ...(target.body !== undefined ? { body: target.body } : {}),
  });
  return { status: response.status, text: await response.text() };
}
