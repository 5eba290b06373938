import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startFunctionsHost } from '../../local/host/FunctionsHost';

const app = join(__dirname, '..', 'fixtures', 'functions-app');

describe('Function: startFunctionsHost (stop)', () => {
  it('lets a running HTTP invocation answer before the host stops, as the real host drains', async () => {
    // Arrange
    const host = await startFunctionsHost({
      port: 0,
      masterKey: 'master-key-for-stop-tests',
      defaultKey: 'default-key-for-stop-tests',
      entryPoints: [join(app, 'slowFunctions.js')],
      storageConnectionString: 'UseDevelopmentStorage=true',
      hostJsonPath: join(app, 'host.json'),
      log: () => undefined,
    });
    const answer = fetch(`${host.url}/api/slow?ms=300`).then(
      async (res) => [res.status, await res.text()],
      (error: unknown) => [0, error instanceof Error ? error.message : String(error)],
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
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
    const host = await startFunctionsHost({
      port: 0,
      masterKey: 'master-key-for-stop-tests',
      defaultKey: 'default-key-for-stop-tests',
      entryPoints: [join(app, 'appHooks.js')],
      storageConnectionString: 'UseDevelopmentStorage=true',
      hostJsonPath: join(app, 'host.json'),
      env: { ...process.env, FIXTURE_HOOKS_OUT: out },
      log: () => undefined,
    });
    // Act
    await host.stop();
    const seen = JSON.parse(readFileSync(out, 'utf8')) as unknown;
    rmSync(dir, { recursive: true, force: true });
    // Assess
    expect(seen).toEqual({ startedAt: 'start' });
  });
});
