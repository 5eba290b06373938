import { HealthCheck } from '../../shared/health';

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
  });
});
