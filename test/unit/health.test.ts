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
