import { AzureMachineLearningWorkspaces } from '@azure/arm-machinelearning';
import { type HttpClient, RestError } from '@azure/core-rest-pipeline';

import { ArmEndpointTokenSource } from '../../../shared/broker/ArmEndpointTokenSource';
import { classifyUpstreamError } from '../../../shared/broker/classifyUpstreamError';
import { UpstreamTokenError } from '../../../shared/broker/errors';
import { KeyVaultKeySource, type SecretReader } from '../../../shared/broker/KeyVaultKeySource';
import {
  type AccessTokenCredential,
  ManagedIdentityTokenSource,
} from '../../../shared/broker/ManagedIdentityTokenSource';
import { TokenCache, type TokenCacheOptions, type TokenFetch } from '../../../shared/broker/TokenCache';
import type { Sleep } from '../../../shared/clock';
import { armWriteGatePolicy } from '../../../shared/rotation/adapters/armWriteGatePolicy';
import { ArmWriteGate } from '../../../shared/rotation/ArmWriteGate';
import { testEndpoint } from '../../fakes/broker/InMemoryEndpointLookup';
import { MsalLikeCredential } from '../../fakes/broker/MsalLikeCredential';
import { CapturingLogger, CapturingTelemetry } from '../../fakes/capture';
import { FakeClock } from '../../fakes/FakeClock';
import { neverEnds, signalRecordingSleep } from '../../fakes/sleeps';
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

/** The managed-identity source over `credential`, on a fake clock whose sleep moves it on. */
function identityOver(
  credential: AccessTokenCredential,
  clock = new FakeClock(),
): ManagedIdentityTokenSource {
  return new ManagedIdentityTokenSource({ credential, clock, sleep: clock.sleep });
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
          return neverEnds(ms);
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
      const source = identityOver({
        getToken: async (s) => {
          scopes.push(s);
          return { token: 'entra', expiresOnTimestamp: 5000, refreshAfterTimestamp: 4000 };
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
      const source = identityOver({ getToken: async () => null });

      // Act
      const error = await rejection(source.getToken('https://ml.azure.com'));

      // Assess
      expect(error.failure).toBe('badResponse');
    });

    it('waits out MSAL renewing its cached token at 300 s left and asks once more', async () => {
      // Prepare: MSAL's token of 1 h, asked for again the moment its 300 s renewal offset is reached
      const clock = new FakeClock();
      const credential = new MsalLikeCredential(clock);
      const slept: number[] = [];
      const source = new ManagedIdentityTokenSource({
        credential,
        clock,
        sleep: (ms) => {
          slept.push(ms);
          return clock.sleep(ms);
        },
      });
      const first = await source.getToken('https://ml.azure.com');
      clock.set(first.expiresOnMs - 300_000);

      // Act
      const renewed = await source.getToken('https://ml.azure.com');

      // Assess: a new token, got after a wait of about a second (MSAL rounds to whole seconds)
      expect(renewed.value).toBe('mi-token-2');
      expect(renewed.expiresOnMs - clock.now()).toBeGreaterThan(3_000_000);
      expect(slept).toEqual([1000]);
      expect(credential.calls).toBe(3);
    });

    it('asks only once more, and not at all for a token already that short-lived, so the cache refuses it as before', async () => {
      // Prepare: a credential that keeps answering one token (the 2nd ask gets it back), and one whose
      // fresh tokens live 200 s (a new token already: asking again would only get another)
      const clock = new FakeClock();
      let calls = 0;
      const expiresOnTimestamp = clock.now() + 300_000;
      const stuck = identityOver(
        {
          getToken: async () => {
            calls++;
            return { token: 'stuck', expiresOnTimestamp };
          },
        },
        clock,
      );
      const shortLived = new MsalLikeCredential(clock, 200);
      const cache = cacheOn(clock);

      // Act
      const stuckRefused = await cache
        .get('mi:stuck', { upstream: 'managedIdentity', fetch: (s) => stuck.getToken('https://stuck', s) })
        .catch((error: unknown) => error);
      const shortRefused = await cache
        .get('mi:short', {
          upstream: 'managedIdentity',
          fetch: (s) => identityOver(shortLived, clock).getToken('https://short', s),
        })
        .catch((error: unknown) => error);

      // Assess
      expect(calls).toBe(2);
      expect(shortLived.calls).toBe(1);
      expect(stuckRefused).toMatchObject({ failure: 'tooShortLived', retryAfterSeconds: 30 });
      expect(shortRefused).toMatchObject({ failure: 'tooShortLived', retryAfterSeconds: 30 });
    });

    it('gives the wait up when the cache gives the call up', async () => {
      // Prepare + Act: a wait that never ends on its own, given up
      const { waiting, credential } = await giveUpRenewalWait(neverEnds);

      // Assess: no second ask after the call was given up
      await expect(waiting).resolves.toMatchObject({ message: 'given up' });
      expect(credential.calls).toBe(2);
    });

    it('hands the wait the signal of the call, so that a real sleep clears its timer when the cache gives up', async () => {
      // Prepare + Act: a wait that never ends on its own, recording the signal it is handed, given up
      const { sleep, given } = signalRecordingSleep();
      const { waiting, credential, giveUp } = await giveUpRenewalWait(sleep);

      // Assess
      await expect(waiting).resolves.toMatchObject({ message: 'given up' });
      expect(given).toEqual([giveUp.signal]);
      expect(credential.calls).toBe(2);
    });
  });
});

describe('The managed-identity token through the broker cache across MSAL renewing it', () => {
  it('is served without a 503, and never with under the minimum lifetime left, under steady requests', async () => {
    // Prepare: the app's defaults (300 s minimum lifetime, refresh at half), MSAL's cache, 1-h tokens (no
    // refresh hint: 2 h or less), three concurrent requests every 100 ms for two token lives
    const clock = new FakeClock();
    const credential = new MsalLikeCredential(clock);
    const source = identityOver(credential, clock);
    const cache = cacheOn(clock);
    const fetch: TokenFetch = {
      upstream: 'managedIdentity',
      fetch: (signal) => source.getToken('https://ml.azure.com', signal),
    };
    const failures: unknown[] = [];
    let shortestLeftMs = Infinity;
    const endMs = clock.now() + 2 * HOUR + 60_000;

    // Act
    while (clock.now() < endMs) {
      const answers = await Promise.allSettled([1, 2, 3].map(() => cache.get('mi:ml', fetch)));
      for (const answer of answers) {
        if (answer.status === 'rejected') failures.push(answer.reason);
        else shortestLeftMs = Math.min(shortestLeftMs, answer.value.expiresOnMs - clock.now());
      }
      clock.advance(100);
    }

    // Assess: two renewals, no refusal, no request served a token MSAL was about to drop
    expect(failures).toEqual([]);
    expect(credential.issued).toBe(3);
    expect(shortestLeftMs).toBeGreaterThanOrEqual(300_000);
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
    const identity = identityOver({
      getToken: async (_scopes, options) => {
        seen.push(options);
        return { token: 't', expiresOnTimestamp: 2_000_000_000_000 };
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

/**
 * A managed-identity token call that waits out MSAL's renewal point with `sleep`, given up by its caller
 * while it waits: the call's outcome, the credential (its calls counted) and the controller that gave up.
 */
async function giveUpRenewalWait(sleep: Sleep) {
  const clock = new FakeClock();
  const credential = new MsalLikeCredential(clock);
  const source = new ManagedIdentityTokenSource({ credential, clock, sleep });
  const first = await source.getToken('https://ml.azure.com');
  clock.set(first.expiresOnMs - 300_000);
  const giveUp = new AbortController();
  const waiting = source.getToken('https://ml.azure.com', giveUp.signal).catch((error: unknown) => error);
  await settle();
  giveUp.abort(new Error('given up'));
  return { waiting, credential, giveUp };
}
