import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startFunctionsHost } from '../../local/host/FunctionsHost';
import { waitFor } from '../support/waitFor';

const app = join(__dirname, '..', 'fixtures', 'functions-app');

/** The local host over one fixture entry point, on a free port; its lines go to `log` (default: nowhere). */
function startHost(
  entryPoint: string,
  env?: NodeJS.ProcessEnv,
  log: (line: string) => void = () => undefined,
): ReturnType<typeof startFunctionsHost> {
  return startFunctionsHost({
    port: 0,
    masterKey: 'master-key-for-stop-tests',
    defaultKey: 'default-key-for-stop-tests',
    entryPoints: [join(app, entryPoint)],
    storageConnectionString: 'UseDevelopmentStorage=true',
    hostJsonPath: join(app, 'host.json'),
    ...(env ? { env } : {}),
    log,
  });
}

describe('Function: startFunctionsHost (stop)', () => {
  it('lets a running HTTP invocation answer before the host stops, as the real host drains', async () => {
    // Arrange
    const lines: string[] = [];
    const host = await startHost('slowFunctions.js', undefined, (line) => void lines.push(line));
    const answer = fetch(`${host.url}/api/slow?ms=300`).then(
      async (res) => [res.status, await res.text()],
      (error: unknown) => [0, error instanceof Error ? error.message : String(error)],
    );
    await waitFor(
      'the slow invocation to start',
      () => lines.some((l) => l.includes("Executing 'Functions.slow'")),
      {
        intervalMs: 5,
      },
    );
    // Act
    await host.stop();
    // Assess
    expect(await answer).toEqual([200, 'slept 300']);
    const refused = await fetch(`${host.url}/api/slow?ms=0`).then(
      (res) => res.status,
      () => 0,
    );
    expect(refused).toBe(0);
  });

  it('gives appTerminate the hookData that appStart filled, as the Node worker does', async () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'local-host-hooks-'));
    const out = join(dir, 'hooks.json');
    const host = await startHost('appHooks.js', { ...process.env, FIXTURE_HOOKS_OUT: out });
    // Act
    await host.stop();
    const seen = JSON.parse(readFileSync(out, 'utf8')) as unknown;
    rmSync(dir, { recursive: true, force: true });
    // Assess
    expect(seen).toEqual({ startedAt: 'start' });
  });
});
