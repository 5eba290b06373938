import { resolve } from 'node:path';

import { ensureLocalCertificate } from '../certs';
import { ADMIN_METHODS } from './adminApi';
import { startEmulators } from './index';
import demoSeed from './seed.demo.json';

/**
 * CLI: `node dist/local/emulators/main.js [--port N] [--seed-demo] [--verbose]` starts the stand-ins
 * for manual use and prints where they are. Runs until interrupted.
 */
async function main(argv: readonly string[]): Promise<void> {
  const portIndex = argv.indexOf('--port');
  const port = portIndex >= 0 ? Number(argv[portIndex + 1]) : 0;
  if (!Number.isInteger(port) || port < 0) throw new Error('--port must be a port number');
  const root = resolve(__dirname, '..', '..', '..');
  const cert = await ensureLocalCertificate(resolve(root, '.local', 'certs'));
  const verbose = argv.includes('--verbose');
  const emulators = await startEmulators({
    port,
    certPath: cert.certPath,
    keyPath: cert.keyPath,
    log: (line) => {
      if (verbose) process.stdout.write(`${line}\n`);
    },
  });
  if (argv.includes('--seed-demo')) emulators.control.seed(demoSeed);
  process.stdout.write(
    [
      `Azure stand-ins listening on ${emulators.url}`,
      `  NODE_EXTRA_CA_CERTS=${cert.certPath}`,
      `  IDENTITY_ENDPOINT=${emulators.identityEndpoint}`,
      `  IDENTITY_HEADER=${emulators.identityHeader}`,
      `  KEY_VAULT_URL=${emulators.url}  ARM_ENDPOINT=${emulators.url}`,
      `  admin: POST ${emulators.url}/_emulator/{${ADMIN_METHODS.join('|')}}`,
      '',
    ].join('\n'),
  );
  const stop = (): void => {
    void emulators.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
