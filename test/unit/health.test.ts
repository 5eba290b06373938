import type { AzureClients } from '../../shared/azureClients';
import type { AppConfig } from '../../shared/config';
import { dependencyProbes, HealthCheck } from '../../shared/health';

describe('Class: HealthCheck', () => {
  describe('Method: run', () => {
    it('reports up when every probe passes', async () => {
      // Prepare
      const check = new HealthCheck({ probes: [{ name: 'storage', check: async () => undefined }] });

      // Act
      const report = await check.run();

      // Assess
      expect(report.status).toBe('up');
      expect(report.dependencies).toEqual([expect.objectContaining({ name: 'storage', status: 'up' })]);
    });

    it('reports a failing probe by code without its message', async () => {
      // Prepare
      const failure = Object.assign(new Error('secret-looking detail'), { code: 'SecretNotFound' });
      const check = new HealthCheck({
        probes: [
          { name: 'keyVault', check: () => Promise.reject(failure) },
          { name: 'storage', check: async () => undefined },
        ],
      });

      // Act
      const report = await check.run();

      // Assess
      expect(report.status).toBe('degraded');
      expect(report.dependencies[0]).toEqual(
        expect.objectContaining({ status: 'down', reason: 'SecretNotFound' }),
      );
      expect(JSON.stringify(report)).not.toContain('secret-looking detail');
    });

    it('shares one check among callers of the same second, so anonymous calls cannot multiply calls to the vault', async () => {
      // Prepare: a dependency that answers after 20 ms, and counts its calls
      let calls = 0;
      const probe = {
        name: 'keyVault',
        check: async () => {
          calls++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        },
      };
      const check = new HealthCheck({ probes: [probe] });

      // Act: fifty at once, then one more just after
      const reports = await Promise.all(Array.from({ length: 50 }, () => check.run()));
      const after = await check.run();

      // Assess
      expect(calls).toBe(1);
      expect(new Set([...reports, after]).size).toBe(1);
    });

    it('checks again once the last report is older than reuseMs', async () => {
      // Prepare
      let calls = 0;
      const check = new HealthCheck({
        probes: [{ name: 'tables', check: async () => void calls++ }],
        reuseMs: 10,
      });
      await check.run();

      // Act
      await new Promise((resolve) => setTimeout(resolve, 30));
      await check.run();

      // Assess
      expect(calls).toBe(2);
    });

    it('bounds a hung probe by the timeout', async () => {
      // Prepare
      const check = new HealthCheck({
        probes: [{ name: 'arm', check: () => new Promise(() => undefined) }],
        timeoutMs: 20,
      });

      // Act
      const report = await check.run();

      // Assess
      expect(report.dependencies[0]).toEqual(expect.objectContaining({ status: 'down', reason: 'Timeout' }));
    });

    it('gives a hung probe up at the timeout: its signal fires, so its request ends too; one answered keeps its signal', async () => {
      // Prepare
      const signals: Record<string, AbortSignal | undefined> = {};
      const check = new HealthCheck({
        probes: [
          {
            name: 'hung',
            check: (abortSignal?: AbortSignal) => {
              signals['hung'] = abortSignal;
              return new Promise(() => undefined);
            },
          },
          {
            name: 'answering',
            check: async (abortSignal?: AbortSignal) => void (signals['answering'] = abortSignal),
          },
        ],
        timeoutMs: 20,
      });

      // Act
      await check.run();
      await new Promise((resolve) => setTimeout(resolve, 40));

      // Assess
      expect(signals['hung']?.aborted).toBe(true);
      expect(signals['hung']?.reason).toMatchObject({ name: 'TimeLimitError', limitMs: 20 });
      expect(signals['answering']?.aborted).toBe(false);
    });
  });
});

describe('Function: dependencyProbes', () => {
  it("hands each Storage and Key Vault call the probe's signal, so a check given up closes its request", async () => {
    // Prepare: dependencies that never answer, recording the signal of each call
    const signals: Record<string, AbortSignal | undefined> = {};
    const silent = (name: string) => (options?: { abortSignal?: AbortSignal }) => {
      signals[name] = options?.abortSignal;
      return new Promise<never>(() => undefined);
    };
    const clients = {
      table: () => ({ createTable: silent('tables') }),
      queue: () => ({ createIfNotExists: silent('queue') }),
      secrets: {
        listPropertiesOfSecrets: (options?: { abortSignal?: AbortSignal }) => ({
          byPage: () => ({ next: () => silent('keyVault')(options) }),
        }),
      },
      credential: { getToken: async () => ({ token: 'unused', expiresOnTimestamp: 0 }) },
    } as unknown as Pick<AzureClients, 'table' | 'queue' | 'secrets' | 'credential'>;
    const config = { tables: { journal: 'journal' }, rotation: { queue: 'jobs' } } as Pick<
      AppConfig,
      'tables' | 'rotation'
    >;
    const check = new HealthCheck({ probes: dependencyProbes(clients, config), timeoutMs: 20 });

    // Act
    const report = await check.run();

    // Assess
    expect(report.dependencies.map((d) => [d.name, d.status])).toEqual([
      ['tables', 'down'],
      ['queue', 'down'],
      ['keyVault', 'down'],
      ['managedIdentity', 'up'],
    ]);
    expect([signals['tables'], signals['queue'], signals['keyVault']].map((s) => s?.aborted)).toEqual([
      true,
      true,
      true,
    ]);
  });
});
