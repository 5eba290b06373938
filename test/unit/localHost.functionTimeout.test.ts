import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startFunctionsHost } from '../../local/host/FunctionsHost';
import { readHostJson } from '../../local/host/hostJson';

const app = join(__dirname, '..', 'fixtures', 'functions-app');

describe('Function: startFunctionsHost (host.json functionTimeout)', () => {
  let dir: string;
  let host: Awaited<ReturnType<typeof startFunctionsHost>>;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'local-host-timeout-'));
    const hostJson = join(dir, 'host.json');
    writeFileSync(hostJson, JSON.stringify({ version: '2.0', functionTimeout: '00:00:01' }));
    host = await startFunctionsHost({
      port: 0,
      masterKey: 'master-key-for-timeout-tests',
      defaultKey: 'default-key-for-timeout-tests',
      entryPoints: [join(app, 'slowFunctions.js')],
      storageConnectionString: 'UseDevelopmentStorage=true',
      hostJsonPath: hostJson,
      log: (line) => lines.push(line),
    });
  });
  afterAll(async () => {
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails an invocation that outlives functionTimeout, as the real host does, with a 500', async () => {
    // Act
    const started = Date.now();
    const res = await fetch(`${host.url}/api/slow?ms=4000`);
    const elapsed = Date.now() - started;
    // Assess
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('');
    expect(elapsed).toBeLessThan(3500);
    expect(
      lines.some((l) => l.includes("Timeout value of 00:00:01 exceeded by function 'Functions.slow'")),
    ).toBe(true);
    expect(lines.some((l) => /Executed 'Functions\.slow' \(Failed/.test(l))).toBe(true);
  });

  it('lets an invocation that ends within functionTimeout answer normally', async () => {
    // Act
    const res = await fetch(`${host.url}/api/slow?ms=50`);
    // Assess
    expect([res.status, await res.text()]).toEqual([200, 'slept 50']);
  });
});

describe('Function: startFunctionsHost (functionTimeout by app setting)', () => {
  it('fails an invocation that outlives the functionTimeout an app setting sets over host.json', async () => {
    // Prepare: host.json allows 10 minutes, the app setting 1 second
    const dir = mkdtempSync(join(tmpdir(), 'local-host-timeout-'));
    const hostJson = join(dir, 'host.json');
    writeFileSync(hostJson, JSON.stringify({ version: '2.0', functionTimeout: '00:10:00' }));
    const host = await startFunctionsHost({
      port: 0,
      masterKey: 'master-key-for-timeout-tests',
      defaultKey: 'default-key-for-timeout-tests',
      entryPoints: [join(app, 'slowFunctions.js')],
      storageConnectionString: 'UseDevelopmentStorage=true',
      hostJsonPath: hostJson,
      env: { ...process.env, AzureFunctionsJobHost__functionTimeout: '00:00:01' },
      log: () => undefined,
    });
    try {
      // Act
      const res = await fetch(`${host.url}/api/slow?ms=4000`);
      // Assess
      expect(res.status).toBe(500);
    } finally {
      await host.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Function: readHostJson (functionTimeout)', () => {
  it('reads a TimeSpan, defaults to the 30 minutes of the Flex Consumption plan and takes -1 as no limit', () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'local-host-json-'));
    const read = (json: object): number | undefined => {
      writeFileSync(join(dir, 'host.json'), JSON.stringify(json));
      return readHostJson(join(dir, 'host.json')).functionTimeoutMs;
    };
    // Act
    const values = [read({ functionTimeout: '00:10:00' }), read({}), read({ functionTimeout: '-1' })];
    rmSync(dir, { recursive: true, force: true });
    // Assess
    expect(values).toEqual([600000, 1800000, undefined]);
  });

  it('takes the AzureFunctionsJobHost__functionTimeout app setting over host.json, as the host in Azure does', () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'local-host-json-'));
    const read = (json: object, setting: string | undefined): number | undefined => {
      writeFileSync(join(dir, 'host.json'), JSON.stringify(json));
      return readHostJson(join(dir, 'host.json'), { AzureFunctionsJobHost__functionTimeout: setting })
        .functionTimeoutMs;
    };
    // Act
    const values = [
      read({ functionTimeout: '00:10:00' }, '00:05:00'),
      read({}, '00:05:00'),
      read({ functionTimeout: '00:10:00' }, '-1'),
      read({ functionTimeout: '00:10:00' }, ''),
    ];
    const bad = (): unknown => read({ functionTimeout: '00:10:00' }, 'soon');
    // Assess
    expect(bad).toThrow(/AzureFunctionsJobHost__functionTimeout.*hh:mm:ss/);
    rmSync(dir, { recursive: true, force: true });
    expect(values).toEqual([300000, 300000, undefined, 600000]);
  });
});
