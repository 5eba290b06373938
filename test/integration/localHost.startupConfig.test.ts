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

describe('Local host: the app with a bad setting', () => {
  it('stops at start-up with one message naming each bad setting, not at its first request', async () => {
    // Act
    const message = await startFailure({
      // The host itself resolves these binding expressions before the app starts (README, Settings).
      ROTATION_SCHEDULE: '0 */15 * * * *',
      ROTATION_QUEUE: 'rotation-jobs',
      EVENTS_RETRY_QUEUE: 'event-publish-retries',
      KEY_VAULT_URL: 'not a url',
      ROTATION_LEASE_SECONDS: '-5',
    });

    // Assess
    expect(message).toContain('KEY_VAULT_URL: must be an absolute URL, got "not a url"');
    expect(message).toContain('ROTATION_LEASE_SECONDS: must be at least 10, got -5');
    expect(message).toContain('BROKER_SECRET_PEPPER: is required');
    expect(message).not.toMatch(/^\s+at /m);
  });
});
