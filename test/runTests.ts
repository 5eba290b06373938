import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { ensureLocalCertificate } from '../local/certs';

/**
 * `npm test`: prepares what the integration tests need before Jest starts, then runs Jest.
 * Node reads `NODE_EXTRA_CA_CERTS` only at process start, so the local certificate must exist and be
 * named in the environment before the Jest processes are spawned.
 *
 * Without arguments it runs the unit, contract, integration and e2e projects, then the fault matrix
 * (`test/faults`, about 7 minutes) in a second Jest run of its own: the matrix times kills and outages
 * against several host processes, so it must not share the two cores with the other suites' workers.
 * With arguments (`npm test -- <paths>`, `--selectProjects faults`) it runs one Jest with those.
 */
async function main(): Promise<void> {
  const root = join(__dirname, '..', '..');
  const cert = await ensureLocalCertificate(join(root, '.local', 'certs'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_EXTRA_CA_CERTS: cert.certPath,
    LOCAL_TLS_CERT_PATH: cert.certPath,
    LOCAL_TLS_KEY_PATH: cert.keyPath,
    // Never let a developer's own Azure credentials leak into the tests.
    AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential',
    AZURE_TENANT_ID: '',
    AZURE_CLIENT_SECRET: '',
    MSI_ENDPOINT: '',
    MSI_SECRET: '',
  };
  const given = process.argv.slice(2);
  const runs = given.length > 0 ? [given] : [[], ['--selectProjects', 'faults']];
  for (const args of runs) {
    const code = await jest(root, env, args);
    if (code !== 0) process.exit(code);
  }
}

/** Runs one Jest process and resolves with its exit code. */
function jest(root: string, env: NodeJS.ProcessEnv, args: readonly string[]): Promise<number> {
  const jestBin = require.resolve('jest/bin/jest');
  const child = spawn(process.execPath, [jestBin, '--ci', ...args], { cwd: root, stdio: 'inherit', env });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
