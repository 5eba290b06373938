import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Off-the-shelf clients run in clean child processes, so nothing of ours is on the client side: the
 * scripts below only call the libraries' public APIs and print the outcome as one JSON line.
 * `oauth4webapi` is ESM-only (hence a child rather than an import under Jest); `ManagedIdentityCredential`
 * reads `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` from its environment as it would on App Service.
 */

/** argv: issuerUrl, basic|post, clientId, secret, [scope]. */
const OAUTH_CLIENT = `
import * as oauth from 'oauth4webapi';
const [issuerUrl, method, clientId, secret, scope] = process.argv.slice(1);
const as = { issuer: issuerUrl, token_endpoint: issuerUrl + '/api/oauth2/token' };
const client = { client_id: clientId };
const auth = method === 'basic' ? oauth.ClientSecretBasic(secret) : oauth.ClientSecretPost(secret);
const parameters = new URLSearchParams();
if (scope) parameters.set('scope', scope);
try {
  const response = await oauth.clientCredentialsGrantRequest(as, client, auth, parameters, { [oauth.allowInsecureRequests]: true });
  const token = await oauth.processClientCredentialsResponse(as, client, response);
  console.log(JSON.stringify({ ok: true, token }));
} catch (error) {
  // A 401 with WWW-Authenticate surfaces as WWWAuthenticateChallengeError; its body is still RFC 6749.
  let body = null;
  try { body = error?.response && !error.response.bodyUsed ? await error.response.json() : null; } catch { body = null; }
  console.log(JSON.stringify({
    ok: false, name: error?.name, code: error?.code,
    challenges: Array.isArray(error?.cause) ? error.cause : null,
    error: error?.error ?? body?.error ?? error?.code, status: error?.status,
    description: error?.error_description ?? body?.error_description,
    wwwAuthenticate: error?.response?.headers?.get?.('www-authenticate') ?? null,
  }));
}`;

/** argv: scope, [clientId], [repeat]. */
const MSI_CLIENT = `
const { ManagedIdentityCredential } = require('@azure/identity');
const [scope, clientId, repeat] = process.argv.slice(1);
(async () => {
  const credential = clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
  const tokens = [];
  for (let i = 0; i < Number(repeat || 1); i++) {
    const t = await credential.getToken(scope);
    tokens.push({ token: t.token, expiresOnTimestamp: t.expiresOnTimestamp });
  }
  console.log(JSON.stringify({ ok: true, tokens }));
})().catch((error) => console.log(JSON.stringify({ ok: false, name: error.name, message: error.message })));`;

/** argv: scope. `DefaultAzureCredential` with nothing but its environment (AZURE_CLIENT_ID and the two above). */
const DEFAULT_CLIENT = `
const { DefaultAzureCredential } = require('@azure/identity');
const [scope] = process.argv.slice(1);
new DefaultAzureCredential().getToken(scope)
  .then((t) => console.log(JSON.stringify({ ok: true, tokens: [{ token: t.token, expiresOnTimestamp: t.expiresOnTimestamp }] })))
  .catch((error) => console.log(JSON.stringify({ ok: false, name: error.name, message: error.message })));`;

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');

async function runScript<T>(args: string[], env: Record<string, string>): Promise<T> {
  const { stdout } = await run(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as T;
}

/** What the OAuth client printed. */
export interface OAuthClientResult {
  ok: boolean;
  token?: { access_token: string; token_type: string; expires_in: number; scope?: string };
  error?: string;
  status?: number;
  wwwAuthenticate?: string | null;
  challenges?: Array<{ scheme: string }> | null;
}

/** What the managed-identity client printed. */
export interface MsiClientResult {
  ok: boolean;
  tokens?: Array<{ token: string; expiresOnTimestamp: number }>;
  message?: string;
}

/** Runs oauth4webapi's client credentials grant against `<baseUrl>/api/oauth2/token`. */
export function runOAuthClient(
  baseUrl: string,
  method: 'basic' | 'post',
  clientId: string,
  secret: string,
  scope?: string,
): Promise<OAuthClientResult> {
  return runScript(
    ['--input-type=module', '-e', OAUTH_CLIENT, baseUrl, method, clientId, secret, ...(scope ? [scope] : [])],
    {},
  );
}

/**
 * Runs `new ManagedIdentityCredential(...).getToken(scope)` `repeat` times in a process whose
 * environment holds only `PATH` and `env` (IDENTITY_ENDPOINT, IDENTITY_HEADER).
 */
export function runMsiClient(
  env: Record<string, string>,
  scope: string,
  clientId?: string,
  repeat = 1,
): Promise<MsiClientResult> {
  return runScript(['-e', MSI_CLIENT, scope, clientId ?? '', String(repeat)], env);
}

/**
 * Runs `new DefaultAzureCredential().getToken(scope)` in a process whose environment holds only `PATH`
 * and `env` (IDENTITY_ENDPOINT, IDENTITY_HEADER, AZURE_CLIENT_ID).
 */
export function runDefaultCredentialClient(
  env: Record<string, string>,
  scope: string,
): Promise<MsiClientResult> {
  return runScript(['-e', DEFAULT_CLIENT, scope], env);
}
