import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { spawnFunctionsHost } from '../../local/host/childProcess';

const root = join(__dirname, '..', '..');

/** Starts the compiled app in a host of its own with exactly these settings and returns why it stopped. */
async function startFailure(settings: Record<string, string>): Promise<string> {
  try {
    const host = await spawnFunctionsHost({
      env: { PATH: process.env.PATH ?? '', AzureWebJobsStorage: 'UseDevelopmentStorage=true', ...settings },
      port: 0,
      masterKey: 'master-key-for-tests',
      defaultKey: 'default-key-for-tests',
      cwd: root,
    });
    await host.stop();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error('the app started with these settings');
}

/** The host itself resolves these binding expressions before the app starts (README, Settings). */
const bindingSettings = {
  ROTATION_SCHEDULE: '0 */15 * * * *',
  ROTATION_QUEUE: 'rotation-jobs',
  EVENTS_RETRY_QUEUE: 'event-publish-retries',
};

describe('Local host: the app with a bad setting', () => {
  it('stops at start-up with one message naming each bad setting, not at its first request', async () => {
    // Act
    const message = await startFailure({
      ...bindingSettings,
      KEY_VAULT_URL: 'not a url',
      ROTATION_LEASE_SECONDS: '-5',
    });

    // Assess
    expect(message).toContain('KEY_VAULT_URL: must be an absolute URL, got "not a url"');
    expect(message).toContain('ROTATION_LEASE_SECONDS: must be at least 10, got -5');
    expect(message).toContain('BROKER_SECRET_PEPPER: is required');
    expect(message).not.toMatch(/^\s+at /m);
  });

  it('stops at start-up naming a ROTATION_SCHEDULE the timer cannot run, not with a stack trace', async () => {
    // Act: six fields, but minute 75
    const message = await startFailure({
      ...bindingSettings,
      ROTATION_SCHEDULE: '0 75 * * * *',
      KEY_VAULT_URL: 'https://vault.example.net/',
      BROKER_SECRET_PEPPER: 'p'.repeat(40),
    });

    // Assess
    expect(message).toContain('ROTATION_SCHEDULE: Invalid minute field "75"');
    expect(message).not.toMatch(/^\s+at /m);
  });

  it('stops at start-up naming each bad entry and field of ENDPOINTS_FILE, not at its first endpoint lookup', async () => {
    // Prepare: valid settings, and a file with a misspelt probe field and a period over ten years
    const dir = mkdtempSync(join(tmpdir(), 'endpoints-file-'));
    const file = join(dir, 'endpoints.json');
    const arm = { subscriptionId: 'sub', resourceGroup: 'rg', workspace: 'ws', name: 'ep' };
    writeFileSync(
      file,
      JSON.stringify([
        { id: 'first-one', arm, probe: { acceptedStatus: [200] } },
        { id: 'second-one', arm: { ...arm, name: 'ep-2' }, rotationPeriodHours: 1e300 },
      ]),
    );

    try {
      // Act
      const message = await startFailure({
        ...bindingSettings,
        KEY_VAULT_URL: 'https://vault.example.net/',
        BROKER_SECRET_PEPPER: 'p'.repeat(40),
        ENDPOINTS_FILE: file,
      });

      // Assess
      expect(message).toContain('ENDPOINTS_FILE[0].probe.acceptedStatus');
      expect(message).toContain('ENDPOINTS_FILE[1].rotationPeriodHours');
      expect(message).not.toMatch(/^\s+at /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Local host: its port taken', () => {
  it('fails with EADDRINUSE, as a server in this process would, so npm start can say which setting moves it', async () => {
    // Prepare: another server (a Core Tools host, say) on the port
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const { port } = other.address() as AddressInfo;

    try {
      // Act
      const failure = await spawnFunctionsHost({
        env: {
          PATH: process.env.PATH ?? '',
          AzureWebJobsStorage: 'UseDevelopmentStorage=true',
          ...bindingSettings,
          KEY_VAULT_URL: 'https://vault.example.net/',
          BROKER_SECRET_PEPPER: 'p'.repeat(40),
        },
        port,
        masterKey: 'master-key-for-tests',
        defaultKey: 'default-key-for-tests',
        cwd: root,
      }).then(
        async (host) => {
          await host.stop();
          throw new Error('the host started on a port in use');
        },
        (error: unknown) => error,
      );

      // Assess
      expect(failure).toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });
});
