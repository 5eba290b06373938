import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import demoSeed from './emulators/seed.demo.json';
import type { LocalStack } from './stack';

/** Where the demo data lives in Azure terms (matches `emulators/seed.demo.json`). */
export const DEMO_ARM = {
  subscriptionId: '00000000-0000-0000-0000-000000000001',
  resourceGroup: 'demo-rg',
  workspace: 'demo-ws',
} as const;

/** The endpoints the demo registers with the app, through its own admin API. */
const DEMO_ENDPOINTS = [
  {
    id: 'demo-key-endpoint',
    kind: 'onlineEndpoint',
    name: 'demo-key-endpoint',
    authMode: 'Key',
    brokerKeyAccess: true,
  },
  {
    id: 'demo-serverless',
    kind: 'serverlessEndpoint',
    name: 'demo-serverless',
    authMode: 'Key',
    brokerKeyAccess: false,
  },
  {
    id: 'demo-token-endpoint',
    kind: 'onlineEndpoint',
    name: 'demo-token-endpoint',
    authMode: 'AMLToken',
    brokerKeyAccess: false,
  },
  {
    id: 'demo-aad-endpoint',
    kind: 'onlineEndpoint',
    name: 'demo-aad-endpoint',
    authMode: 'AADToken',
    brokerKeyAccess: false,
  },
  // Azure ML SDK v1 web services (seed.demo.json): an AKS service with token auth, brokered, and an
  // ACI service with key auth, rotated on the demo schedule.
  {
    id: 'demo-aks-token',
    kind: 'v1WebService',
    name: 'demo-aks-token',
    authMode: 'AMLToken',
    brokerKeyAccess: false,
    v1: { computeType: 'AKS', region: 'westeurope' },
  },
  {
    id: 'demo-aci-key',
    kind: 'v1WebService',
    name: 'demo-aci-key',
    authMode: 'Key',
    brokerKeyAccess: false,
    v1: { computeType: 'ACI', region: 'westeurope' },
  },
] as const;

/** What the demo created, for the banner and `.local/stack.json`. */
export interface DemoResult {
  readonly endpointIds: readonly string[];
  /** Each demo endpoint's scoring URI at the stand-in, by endpoint id (what the Azure ML studio shows). */
  readonly scoringUris: Readonly<Record<string, string>>;
  readonly clientId: string;
  /** Written to `.local/stack.json` (mode 600); never printed. */
  readonly files: {
    readonly clientId: string;
    readonly clientSecret: string;
    readonly masterKey: string;
    readonly defaultKey: string;
  };
}

/**
 * Calls the running app's own HTTP API with the master key (JSON in, JSON out); throws with the
 * status and body on any non-2xx answer. Used by the demo seed and the benchmarks' seed.
 */
export async function call(
  stack: Pick<LocalStack, 'functionsUrl' | 'masterKey'>,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const response = await fetch(`${stack.functionsUrl}/api/${path}`, {
    method,
    headers: { 'x-functions-key': stack.masterKey, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`demo set-up: ${method} /api/${path} answered ${response.status}: ${text}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/**
 * Seeds the stand-ins with the demo workspace and registers its endpoints and a broker client with
 * the running app through the same admin API an operator would use.
 */
export async function seedDemo(
  stack: LocalStack,
  stateDir: string,
  fileName = 'demo-client.json',
): Promise<DemoResult> {
  stack.emulators.control.seed(demoSeed);
  for (const endpoint of DEMO_ENDPOINTS) {
    await call(stack, 'POST', 'manage/endpoints', {
      id: endpoint.id,
      kind: endpoint.kind,
      arm: { ...DEMO_ARM, name: endpoint.name },
      authMode: endpoint.authMode,
      secretName: `${endpoint.id}-key`,
      brokerKeyAccess: endpoint.brokerKeyAccess,
      ...('v1' in endpoint ? { v1: endpoint.v1 } : {}),
    });
  }
  for (const endpoint of DEMO_ENDPOINTS.filter((e) => e.authMode === 'Key')) {
    await call(stack, 'POST', `manage/endpoints/${endpoint.id}/rotate`);
  }
  const created = (await call(stack, 'POST', 'manage/clients', {
    id: 'demo-client',
    displayName: 'Demo legacy client',
    allowedScopes: [...DEMO_ENDPOINTS.map((e) => e.id), 'https://ml.azure.com'],
    keyAccess: true,
  })) as { client: { id: string }; primarySecret: string };
  const client = { clientId: created.client.id };
  const files = {
    clientId: client.clientId,
    clientSecret: created.primarySecret,
    masterKey: stack.masterKey,
    defaultKey: stack.defaultKey,
  };
  writeFileSync(join(stateDir, fileName), JSON.stringify(files, null, 2), { mode: 0o600 });
  const scoringUris = Object.fromEntries(
    DEMO_ENDPOINTS.map((e) => [e.id, stack.emulators.control.scoringUri({ ...DEMO_ARM, name: e.name })]),
  );
  return { endpointIds: DEMO_ENDPOINTS.map((e) => e.id), scoringUris, clientId: client.clientId, files };
}

/** Prints what is running and commands to try; secrets are read from `.local/stack.json` by the shell. */
export function printBanner(stack: LocalStack, demo: DemoResult, root: string): void {
  const api = `${stack.functionsUrl}/api`;
  const secret = `$(node -p "require('./.local/stack.json').clientSecret")`;
  const master = `$(node -p "require('./.local/stack.json').masterKey")`;
  // jq is not everywhere; node is, so the token is read from the broker's answer with node as the secrets are.
  const accessToken = `node -p "JSON.parse(require('fs').readFileSync(0, 'utf8')).access_token"`;
  const scoringUri = demo.scoringUris['demo-token-endpoint'] ?? '';
  // The stand-ins serve the local certificate, which curl trusts only when told (no -k: it checks the same chain the app does).
  const caCertificate = relative(root, stack.caCertificatePath);
  console.log(
    [
      '',
      'aml-credential-broker is running locally (no Azure account involved).',
      `  Functions host   ${stack.functionsUrl}   (functions under /api)`,
      `  Azure stand-ins  ${stack.emulatorUrl}   (managed identity, Key Vault, Azure ML, scoring)`,
      `  Demo endpoints   ${demo.endpointIds.join(', ')}`,
      `  Demo client      ${demo.clientId}   (secret and host keys in .local/stack.json)`,
      `  Scoring URI      ${scoringUri}   (demo-token-endpoint, AMLToken)`,
      '',
      'Try (from the repository root):',
      `  curl -s ${api}/health`,
      `  curl -s -u "${demo.clientId}:${secret}" -d grant_type=client_credentials -d scope=demo-token-endpoint ${api}/oauth2/token`,
      `  curl -s -H "X-IDENTITY-HEADER: ${secret}" "${api}/msi/token?api-version=2019-08-01&resource=https://ml.azure.com&client_id=${demo.clientId}"`,
      `  curl -s -X POST -u "${demo.clientId}:${secret}" ${api}/endpoints/demo-token-endpoint/token`,
      `  curl -s -H "x-functions-key: ${master}" ${api}/manage/endpoints/demo-key-endpoint`,
      '',
      `Score the AMLToken endpoint with a token from the broker, as a legacy client does (its scoring URI is`,
      `demo.scoringUris in .local/stack.json; the stand-in's model answers each row's sum):`,
      `  TOKEN=$(curl -s -u "${demo.clientId}:${secret}" -d grant_type=client_credentials -d scope=demo-token-endpoint ${api}/oauth2/token | ${accessToken})`,
      `  curl -s --cacert ${caCertificate} -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"data":[[1,2,3]]}' ${scoringUri}`,
      '',
      'The Key endpoint\'s current key, for a client allowed key access (docs/clients.md, "Refresh"):',
      `  curl -s -X POST -u "${demo.clientId}:${secret}" ${api}/endpoints/demo-key-endpoint/token`,
      '',
      'Azure ML SDK v1 web services (docs/v1-web-services.md): demo-aks-token (AKS, token auth, brokered),',
      'demo-aci-key (ACI, key auth, rotated). A v1 token instead of AksWebservice.get_access_token(), and the rotation status:',
      `  curl -s -X POST -u "${demo.clientId}:${secret}" ${api}/endpoints/demo-aks-token/token`,
      `  curl -s -H "x-functions-key: ${master}" ${api}/manage/endpoints/demo-aci-key`,
      '',
      'Rotation runs at demo speed: watch for "KeyRotator" lines below. Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}
