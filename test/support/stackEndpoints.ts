import { call } from '../../local/demo';
import type { WorkspaceCoordinates } from '../../local/emulators';
import type { LocalStack } from '../../local/stack';

/** One Key endpoint created at the stand-in and registered with the running app. */
export interface RegisteredKeyEndpoint {
  readonly id: string;
  readonly name: string;
  readonly secretName: string;
  readonly scoringUri: string;
  readonly coords: WorkspaceCoordinates & { readonly name: string };
}

/** Options of {@link addKeyEndpoint}. */
export interface AddKeyEndpointOptions {
  readonly kind?: 'onlineEndpoint' | 'serverlessEndpoint';
  readonly rotationPeriodHours?: number;
  readonly gracePeriodHours?: number;
}

/**
 * Creates a Key-auth endpoint at the ARM stand-in (online or serverless) and registers it for rotation
 * through the app's own admin API (`POST /api/manage/endpoints`), as an operator would.
 */
export async function addKeyEndpoint(
  stack: LocalStack,
  ws: WorkspaceCoordinates,
  name: string,
  options: AddKeyEndpointOptions = {},
): Promise<RegisteredKeyEndpoint> {
  const kind = options.kind ?? 'onlineEndpoint';
  const coords = { ...ws, name };
  const { scoringUri } =
    kind === 'serverlessEndpoint'
      ? stack.emulators.control.addServerlessEndpoint({ ...coords, authMode: 'Key' })
      : stack.emulators.control.addOnlineEndpoint({ ...coords, authMode: 'Key' });
  const secretName = `${name}-key`;
  await call(stack, 'POST', 'manage/endpoints', {
    id: name,
    kind,
    arm: coords,
    authMode: 'Key',
    secretName,
    ...(options.rotationPeriodHours !== undefined
      ? { rotationPeriodHours: options.rotationPeriodHours }
      : {}),
    ...(options.gracePeriodHours !== undefined ? { gracePeriodHours: options.gracePeriodHours } : {}),
  });
  return { id: name, name, secretName, scoringUri, coords };
}

/**
 * Asks the app to rotate an endpoint now (`POST /api/manage/endpoints/{id}/rotate`).
 * @param hostUrl - the host process to ask (any instance will do) @default stack.functionsUrl
 */
export async function rotateNow(
  stack: LocalStack,
  endpointId: string,
  hostUrl = stack.functionsUrl,
): Promise<void> {
  await call(
    { functionsUrl: hostUrl, masterKey: stack.masterKey },
    'POST',
    `manage/endpoints/${endpointId}/rotate`,
  );
}
