import type { RunningAzurite } from '../../local/azurite';
import { ensureLocalCertificate } from '../../local/certs';
import { type RunningEmulators, startEmulators } from '../../local/emulators';

/**
 * Starts the Azure stand-ins on a random port with the repository's local certificate
 * (`.local/certs` under the working directory, which `NODE_EXTRA_CA_CERTS` must point at for SDK clients). Stop them in afterAll.
 */
export async function withEmulators(
  options: { identityHeader?: string; log?: (line: string) => void } = {},
): Promise<RunningEmulators> {
  const cert = await ensureLocalCertificate('.local/certs');
  return startEmulators({ port: 0, certPath: cert.certPath, keyPath: cert.keyPath, ...options });
}

/** The pepper of the in-process integration apps (a test may look for it where it must not appear). */
export const INTEGRATION_PEPPER = 'integration-pepper-0123456789abcdefghijklmnop';

/**
 * The settings that point an app built in the test process at the stand-ins: Key Vault and ARM at the
 * emulators (their certificate names no vault.azure.net host, so the challenge check is off), storage on
 * Azurite. Tables get `tablePrefix` and a number of this run, so runs on one Azurite never share a table.
 */
export function standInSettings(
  emulators: RunningEmulators,
  azurite: RunningAzurite,
  tablePrefix: string,
): Record<string, string> {
  return {
    AzureWebJobsStorage: azurite.connectionString,
    KEY_VAULT_URL: emulators.url,
    KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
    ARM_ENDPOINT: emulators.url,
    BROKER_SECRET_PEPPER: INTEGRATION_PEPPER,
    TABLE_PREFIX: `${tablePrefix}${Date.now() % 100000}`,
  };
}

/** A minimal HTTPS client for contract tests: plain `fetch` with the local CA trusted through NODE_EXTRA_CA_CERTS. */
export async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Headers; text: string; json: unknown }> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

const IDENTITY_ENV = [
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'AZURE_TOKEN_CREDENTIALS',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'AZURE_CLIENT_ID',
];

/**
 * Points this process's managed identity (what `DefaultAzureCredential` reads) at the stand-in, the
 * way the local stack sets up the Functions host. Returns a function that restores the environment.
 */
export function useEmulatorIdentity(emulators: RunningEmulators): () => void {
  const saved = Object.fromEntries(IDENTITY_ENV.map((key) => [key, process.env[key]]));
  for (const key of ['MSI_ENDPOINT', 'MSI_SECRET', 'AZURE_CLIENT_ID']) delete process.env[key];
  process.env['IDENTITY_ENDPOINT'] = emulators.identityEndpoint;
  process.env['IDENTITY_HEADER'] = emulators.identityHeader;
  process.env['AZURE_TOKEN_CREDENTIALS'] = 'ManagedIdentityCredential';
  return () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}
