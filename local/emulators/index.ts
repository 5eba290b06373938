import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

import { checkEntraToken } from './auth';
import { createControl } from './control';
import { createEmulatorServer } from './server';
import { EmulatorState } from './state';
import type { EmulatorOptions, RunningEmulators } from './types';

export type { TokenCheck } from './auth';
export type {
  EmulatedService,
  EmulatorControl,
  EmulatorOptions,
  EmulatorSeed,
  EndpointCoordinates,
  Fault,
  OnlineAuthMode,
  OnlineEndpointInput,
  RunningEmulators,
  SecretVersionView,
  ServerlessEndpointInput,
  WorkspaceCoordinates,
} from './types';
export type { V1ComputeType, V1ServiceInput } from './v1State';

/**
 * Starts the HTTPS stand-ins for Azure (managed identity, Key Vault, ARM Azure ML, scoring) on
 * `https://127.0.0.1:<port>`, with the admin API under `/_emulator/*`. Clients must trust
 * `certPath` through `NODE_EXTRA_CA_CERTS`.
 */
export async function startEmulators(opts: EmulatorOptions): Promise<RunningEmulators> {
  const [cert, key] = await Promise.all([readFile(opts.certPath, 'utf8'), readFile(opts.keyPath, 'utf8')]);
  const state = new EmulatorState(opts.identityHeader ?? randomBytes(18).toString('base64url'));
  const control = createControl(state);
  const server = createEmulatorServer(state, control, { cert, key }, opts.log ?? (() => undefined));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  state.url = `https://127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  return {
    url: state.url,
    identityEndpoint: `${state.url}/msi/token`,
    identityHeader: state.identityHeader,
    systemPrincipalId: state.system.principalId,
    tenantId: state.tenantId,
    control,
    checkToken: (req, audiences) => checkEntraToken(state, { req, now: Date.now() }, audiences),
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        state.faults.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}
