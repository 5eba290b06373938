import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { ensureLocalCertificate } from '../local/certs';

/**
 * `npm test`: prepares what the integration tests need before Jest starts, then runs Jest.
 * Node reads `NODE_EXTRA_CA_CERTS` only at process start, so the local certificate must exist and be
 * named in the environment before the Jest processes are spawned.
 */
async function main(): Promise<void> {
  const root = join(__dirname, '..', '..');
  const cert = await ensureLocalCertificate(join(root, '.local', 'certs'));
  const jestBin = require.resolve('jest/bin/jest');
  const args = [jestBin, '--ci', ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: 'inherit',
    env: {
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
    },
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
