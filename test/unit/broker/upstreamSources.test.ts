import { AzureMachineLearningWorkspaces } from '@azure/arm-machinelearning';
import { type HttpClient, RestError } from '@azure/core-rest-pipeline';

import { ArmEndpointTokenSource } from '../../../shared/broker/ArmEndpointTokenSource';
import { classifyUpstreamError } from '../../../shared/broker/classifyUpstreamError';
import { UpstreamTokenError } from '../../../shared/broker/errors';
import { KeyVaultKeySource, type SecretReader } from '../../../shared/broker/KeyVaultKeySource';
import { ManagedIdentityTokenSource } from '../../../shared/broker/ManagedIdentityTokenSource';
import { TokenCache, type TokenCacheOptions, type TokenFetch } from '../../../shared/broker/TokenCache';
import { armWriteGatePolicy } from '../../../shared/rotation/adapters/armWriteGatePolicy';
import { ArmWriteGate } from '../../../shared/rotation/ArmWriteGate';
import { testEndpoint } from '../../fakes/broker/InMemoryEndpointLookup';
import { CapturingLogger, CapturingTelemetry } from '../../fakes/capture';
import { FakeClock } from '../../fakes/FakeClock';
import { settle } from '../../support/waitFor';

const HOUR = 3_600_000;
const SUB = '00000000-0000-0000-0000-000000000001';

/** The real ARM SDK client behind the app's write gate, over a transport that fails if anything is sent. */
function armBehindClosedGate(gate: ArmWriteGate, clock: FakeClock): AzureMachineLearningWorkspaces {
  const httpClient: HttpClient = {
    sendRequest: () => Promise.reject(new Error('the gate sends nothing while closed')),
  };
  return new AzureMachineLearningWorkspaces(
    { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + HOUR }) },
    SUB,
    {
      endpoint: 'https://arm.test',
      $host: 'https://arm.test',
      httpClient,
      additionalPolicies: [{ policy: armWriteGatePolicy(gate, { clock }), position: 'perRetry' }],
    },
  );
}

/** The broker's token cache with the app's defaults (5-min minimum lifetime, refresh at half). */
function cacheOn(clock: FakeClock, options: Partial<TokenCacheOptions> = {}): TokenCache {
  return new TokenCache({
    clock,
    logger: new CapturingLogger(),
    telemetry: new CapturingTelemetry(),
    minLifetimeSeconds: 300,
    refreshFraction: 0.5,
    maxEntries: 10,
    ...options,
  });
}

async function rejection(p: Promise<unknown>): Promise<UpstreamTokenError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamTokenError);
  return error as UpstreamTokenError;
}

describe('Function: classifyUpstreamError', () => {
  it.each([
    [{ statusCode: 429 }, 'throttled'],
    [{ statusCode: 503 }, 'serverError'],
    [{ statusCode: 403 }, 'denied'],
    [{ statusCode: 404 }, 'notFound'],
    [{ statusCode: 400 }, 'rejected'],
    [{ code: 'ECONNRESET' }, 'network'],
    [{ name: 'CredentialUnavailableError' }, 'credentialUnavailable'],
    [{ name: 'AbortError' }, 'timeout'],
    [{}, 'unknown'],
  ])('classifies %j as %s', (shape, failure) => {
    // Act
    const error = classifyUpstreamError(
      'amlToken',
      Object.assign(new Error('secret-bearing message'), shape),
    );

    // Assess
    expect(error.failure).toBe(failure);
    expect(error.message).not.toContain('secret-bearing');
  });

  it.each([
    ['retry-after', '12', 12],
    ['retry-after-ms', '1500', 1.5],
    ['x-ms-retry-after-ms', '2500', 2.5],
  ])('keeps the upstream wait of a %s header', (name, value, seconds) => {
    // Act
    const error = classifyUpstreamError('amlToken', {
      statusCode: 429,
      response: { headers: { get: (n: string) => (n === name ? value : undefined) } },
    });

    // Assess
    expect(error.upstreamRetryAfterSeconds).toBe(seconds);
  });
});

describe('Class: ArmEndpointTokenSource', () => {
  describe('Method: getToken', () => {
    it('calls onlineEndpoints.getToken with the ARM coordinates and converts epoch seconds', async () => {
      // Prepare
      const calls: string[][] = [];
      const source = new ArmEndpointTokenSource({
        onlineEndpoints: (sub) => ({
          getToken: async (rg, ws, name) => {
            calls.push([sub, rg, ws, name]);
            return {
              accessToken: 'aml',
              tokenType: 'Bearer',
              expiryTimeUtc: 2_000_000_000,
              refreshAfterTimeUtc: 1_999_990_000,
            };
          },
        }),
      });
      const endpoint = testEndpoint('demo-token', 'AMLToken');

      // Act
      const token = await source.getToken(endpoint);

      // Assess
      expect(calls).toEqual([[endpoint.arm.subscriptionId, 'rg', 'ws', 'demo-token']]);
      expect(token).toEqual({
        value: 'aml',
        expiresOnMs: 2_000_000_000_000,
        refreshAfterMs: 1_999_990_000_000,
      });
    });

    it('reads times above 1e12 as epoch milliseconds, as the v1 source does', async () => {
      // Prepare: the unit of expiryTimeUtc is not documented; a millisecond answer must not read as year 50,000.
      const source = new ArmEndpointTokenSource({
        onlineEndpoints: () => ({
          getToken: async () => ({
            accessToken: 'aml',
            expiryTimeUtc: 2_000_000_000_000,
            refreshAfterTimeUtc: 1_999_990_000_000,
          }),
        }),
      });

      // Act
      const token = await source.getToken(testEndpoint('demo-token', 'AMLToken'));

      // Assess
      expect(token).toEqual({
        value: 'aml',
        expiresOnMs: 2_000_000_000_000,
        refreshAfterMs: 1_999_990_000_000,
      });
    });

    it('classifies SDK failures and refuses answers without a token', async () => {
      // Prepare
      const failing = new ArmEndpointTokenSource({
        onlineEndpoints: () => ({
          getToken: () => Promise.reject(Object.assign(new Error('x'), { statusCode: 403 })),
        }),
      });
      const empty = new ArmEndpointTokenSource({ onlineEndpoints: () => ({ getToken: async () => ({}) }) });
      const endpoint = testEndpoint('demo-token', 'AMLToken');

      // Act
      const denied = await rejection(failing.getToken(endpoint));
      const bad = await rejection(empty.getToken(endpoint));

      // Assess
      expect([denied.upstream, denied.failure]).toEqual(['amlToken', 'denied']);
      expect(bad.failure).toBe('badResponse');
    });

    it('names a token call held back by the ARM write gate throttled, with the wait the gate knows', async () => {
      // Prepare: the token POST is a write; ARM closed the subscription's write bucket for longer than a
      // write may wait at the gate (rotation work shares that bucket).
      const clock = new FakeClock();
      const gate = new ArmWriteGate({ clock, sleep: clock.sleep });
      gate.release(SUB, { retryAfterMs: 300_000 });
      const ml = armBehindClosedGate(gate, clock);
      const source = new ArmEndpointTokenSource({ onlineEndpoints: () => ml.onlineEndpoints });
      const endpoint = testEndpoint('demo-token', 'AMLToken', {
        arm: { subscriptionId: SUB, resourceGroup: 'rg', workspace: 'ws', name: 'ep' },
      });

      // Act
      const held = await rejection(source.getToken(endpoint));

      // Assess: as a 429 from ARM itself would be (operations.md: ARM's write bucket), not `unknown`.
      expect(held.failure).toBe('throttled');
      expect(held.upstreamRetryAfterSeconds).toBe(300);
    });

    it('fails a token call at once as throttled when the gate would hold it longer than the cache waits', async () => {
      // Prepare: ARM closed the write bucket for 45 s: under the gate's 60 s, over the cache's time limit.
      // The gate's sleep never ends, as a real 45 s would not within the cache's limit.
      const clock = new FakeClock();
      const slept: number[] = [];
      const gate = new ArmWriteGate({
        clock,
        sleep: (ms) => {
          slept.push(ms);
          return new Promise<void>(() => undefined);
        },
      });
      gate.release(SUB, { retryAfterMs: 45_000 });
      const ml = armBehindClosedGate(gate, clock);
      const fetchTimeLimitMs = 500;
      const source = new ArmEndpointTokenSource({
        onlineEndpoints: () => ml.onlineEndpoints,
        fetchTimeLimitMs,
      });
      const endpoint = testEndpoint('demo-token', 'AMLToken', {
        arm: { subscriptionId: SUB, resourceGroup: 'rg', workspace: 'ws', name: 'ep' },
      });
      const fetch: TokenFetch = {
        upstream: 'amlToken',
        fetch: (signal) => source.getToken(endpoint, signal),
      };
      const cache = cacheOn(clock, { fetchTimeLimitMs });

      // Act
      const refused = await cache.get('aml:demo-token', fetch).catch((error: unknown) => error);

      // Assess: the wait ARM asked for, not a `timeout` with the 2 s pause of one.
      expect(refused).toMatchObject({ upstream: 'amlToken', failure: 'throttled', retryAfterSeconds: 45 });
      expect(slept).toEqual([]);
    });
  });
});

describe('Class: ManagedIdentityTokenSource', () => {
  describe('Method: getToken', () => {
    it('asks the credential for <resource>/.default and passes the refresh hint on', async () => {
      // Prepare
      const scopes: Array<string | string[]> = [];
      const source = new ManagedIdentityTokenSource({
        credential: {
          getToken: async (s) => {
            scopes.push(s);
            return { token: 'entra', expiresOnTimestamp: 5000, refreshAfterTimestamp: 4000 };
          },
        },
      });

      // Act
      const token = await source.getToken('https://ml.azure.com');

      // Assess
      expect(scopes).toEqual(['https://ml.azure.com/.default']);
      expect(token).toEqual({ value: 'entra', expiresOnMs: 5000, refreshAfterMs: 4000 });
    });

    it('turns a null answer into badResponse', async () => {
      // Prepare
      const source = new ManagedIdentityTokenSource({ credential: { getToken: async () => null } });

      // Act
      const error = await rejection(source.getToken('https://ml.azure.com'));

      // Assess
      expect(error.failure).toBe('badResponse');
    });
  });
});

describe('Class: KeyVaultKeySource', () => {
  describe('Method: getToken', () => {
    const clock = new FakeClock();
    const endpoint = testEndpoint('demo-key', 'Key', { rotationPeriodHours: 24, gracePeriodHours: 2 });
    const reader = (secret: Awaited<ReturnType<SecretReader['getSecret']>>): SecretReader => ({
      getSecret: async () => secret,
    });

    it('promises the key for the grace period from now, whenever the next rotation is scheduled', async () => {
      // Prepare: rotated 4 h ago, so the next scheduled rotation is 20 h away.
      const rotatedAt = clock.now() - 4 * HOUR;
      const source = new KeyVaultKeySource({
        clock,
        secrets: reader({
          value: 'k1',
          properties: { tags: { rotatedAt: new Date(rotatedAt).toISOString() } },
        }),
      });

      // Act
      const token = await source.getToken(endpoint);

      // Assess: a manual rotation now, and a second one once grace has passed, would regenerate this
      // key's slot long before the scheduled rotation; only `now + grace` holds whatever comes next.
      expect(token.value).toBe('k1');
      expect(token.expiresOnMs).toBe(clock.now() + 2 * HOUR);
      expect(token.refreshAfterMs).toBe(rotatedAt + 24 * HOUR);
    });

    it('has the cache re-read the key at half the grace period when the next rotation is further away', async () => {
      // Prepare: the scheduled rotation is 20 h away; the grace period is 2 h.
      const readAt = clock.now();
      const tags = { rotatedAt: new Date(readAt - 4 * HOUR).toISOString() };
      let value = 'k1';
      const source = new KeyVaultKeySource({
        clock,
        secrets: { getSecret: async () => ({ value, properties: { tags } }) },
      });
      const cache = cacheOn(clock);
      const fetch: TokenFetch = { upstream: 'keyVault', fetch: () => source.getToken(endpoint) };

      // Act: a manual rotation replaces the key right after the first read.
      const first = await cache.get('key:demo-key', fetch);
      value = 'k2';
      clock.advance(HOUR);
      await cache.get('key:demo-key', fetch);
      await settle();
      const later = await cache.get('key:demo-key', fetch);

      // Assess: the new key is served after an hour, while the old one still has its grace.
      expect(first.refreshAtMs).toBe(readAt + HOUR);
      expect(later.value).toBe('k2');
    });

    it('falls back to the secret expiry minus grace, and floors an overdue rotation at now', async () => {
      // Prepare
      const expiresOn = new Date(clock.now() + HOUR);
      const source = new KeyVaultKeySource({
        clock,
        secrets: reader({ value: 'k2', properties: { expiresOn } }),
      });

      // Act
      const token = await source.getToken(endpoint);

      // Assess: next rotation was due an hour ago; the key is still current, so it works for grace from now.
      expect(token.expiresOnMs).toBe(clock.now() + 2 * HOUR);
      expect(token.refreshAfterMs).toBe(clock.now() + 60_000);
    });

    it('refuses a disabled secret and classifies Key Vault failures', async () => {
      // Prepare
      const disabled = new KeyVaultKeySource({
        clock,
        secrets: reader({ value: 'k', properties: { enabled: false } }),
      });
      const down = new KeyVaultKeySource({
        clock,
        secrets: { getSecret: () => Promise.reject(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })) },
      });

      // Act
      const a = await rejection(disabled.getToken(endpoint));
      const b = await rejection(down.getToken(endpoint));

      // Assess
      expect([a.upstream, a.failure]).toEqual(['keyVault', 'notFound']);
      expect(b.failure).toBe('network');
    });

    it('names a disabled current version notFound, as Key Vault refuses it (403), not denied', async () => {
      // Prepare: what SecretClient.getSecret throws for a disabled latest version (keyvault fixture
      // secrets-get-disabled-403.json, and the stand-in); "denied" would send the operator after a role.
      const refusal = new RestError('Operation get is not allowed on a disabled secret.', {
        code: 'Forbidden',
        statusCode: 403,
      });
      const disabled = new KeyVaultKeySource({
        clock,
        secrets: { getSecret: () => Promise.reject(refusal) },
      });
      const forbidden = new KeyVaultKeySource({
        clock,
        secrets: {
          getSecret: () =>
            Promise.reject(
              new RestError('Caller is not authorized to perform action on resource.', {
                code: 'Forbidden',
                statusCode: 403,
              }),
            ),
        },
      });

      // Act
      const a = await rejection(disabled.getToken(endpoint));
      const b = await rejection(forbidden.getToken(endpoint));

      // Assess
      expect([a.failure, a.upstreamStatus]).toEqual(['notFound', 403]);
      expect(b.failure).toBe('denied');
    });

    it('names a vault closed to public networks denied, though its 403 says "disabled"', async () => {
      // Prepare: Key Vault's answer when public network access is off (403 Forbidden, inner code
      // ForbiddenByConnection); "notFound" would send the operator to rename or delete the endpoint.
      const closed = new KeyVaultKeySource({
        clock,
        secrets: {
          getSecret: () =>
            Promise.reject(
              new RestError(
                'Public network access is disabled and request is not from a trusted service nor via an approved private link.\r\nCaller: appid=a;oid=o;iss=https://sts.windows.net/t/\r\nVault: v;location=westeurope',
                { code: 'Forbidden', statusCode: 403 },
              ),
            ),
        },
      });

      // Act
      const error = await rejection(closed.getToken(endpoint));

      // Assess
      expect([error.failure, error.upstreamStatus]).toEqual(['denied', 403]);
    });
  });
});

describe('Upstream sources and the abort signal', () => {
  it('pass the signal the cache gives each call on to their SDK call, so a given-up request is closed', async () => {
    // Prepare: SDK stand-ins that record the options they were called with
    const seen: Array<{ abortSignal?: AbortSignal } | undefined> = [];
    const signal = new AbortController().signal;
    const endpoint = testEndpoint('demo', 'AMLToken');
    const arm = new ArmEndpointTokenSource({
      onlineEndpoints: () => ({
        getToken: async (_rg, _ws, _name, options) => {
          seen.push(options);
          return { accessToken: 't', expiryTimeUtc: 2_000_000_000 };
        },
      }),
    });
    const identity = new ManagedIdentityTokenSource({
      credential: {
        getToken: async (_scopes, options) => {
          seen.push(options);
          return { token: 't', expiresOnTimestamp: 2_000_000_000_000 };
        },
      },
    });
    const vault = new KeyVaultKeySource({
      clock: new FakeClock(),
      secrets: {
        getSecret: async (_name, options) => {
          seen.push(options);
          return { value: 'k', properties: {} };
        },
      },
    });

    // Act
    await arm.getToken(endpoint, signal);
    await identity.getToken('https://ml.azure.com', signal);
    await vault.getToken(testEndpoint('demo-key', 'Key'), signal);

    // Assess
    expect(seen.map((options) => options?.abortSignal)).toEqual([signal, signal, signal]);
  });
});
