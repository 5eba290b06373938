import { AzureMachineLearningWorkspaces } from '@azure/arm-machinelearning';
import { createDefaultHttpClient } from '@azure/core-rest-pipeline';
import { ManagedIdentityCredential } from '@azure/identity';

import type { RunningEmulators } from '../../local/emulators';
import { ArmEndpointTokenSource } from '../../shared/broker/ArmEndpointTokenSource';
import { UpstreamUnavailableError } from '../../shared/broker/errors';
import { TokenCache, type TokenFetch } from '../../shared/broker/TokenCache';
import { systemClock } from '../../shared/clock';
import { DEFAULT_TRY_TIME_LIMIT_MS, timeLimitedHttpClient } from '../../shared/timeLimitedHttpClient';
import { testEndpoint } from '../fakes/broker/InMemoryEndpointLookup';
import { CapturingLogger, CapturingTelemetry } from '../fakes/capture';
import { useEmulatorIdentity, withEmulators } from '../support/emulators';
import { sleep } from '../support/waitFor';

const WS = {
  subscriptionId: '00000000-0000-0000-0000-0000000000ab',
  resourceGroup: 'rg-silent',
  workspace: 'ws-silent',
};
const FETCH_TIME_LIMIT_MS = 1000;

/**
 * An upstream that stops answering: ARM's `token` action held for 20 s by the stand-in, reached through
 * the real Azure ML SDK client on the app's transport, whose 30-s try limit is longer than the silence.
 * The cache gives the call up, so the request gets a prompt 503 `timeout` instead of hanging, and the
 * next call after the pause succeeds. As in the app, the cache's give-up aborts the SDK call: a call
 * left running was retried by the SDK against the stopped stand-in, each failed try leaving the SDK's
 * own 30-s timer, and the test run ended with "Jest did not exit one second after the test run".
 */
describe('Token cache over an ARM that does not answer', () => {
  let em: RunningEmulators;
  let restoreEnv: () => void;

  beforeAll(async () => {
    em = await withEmulators();
    restoreEnv = useEmulatorIdentity(em);
    em.control.addWorkspace(WS);
    em.control.addOnlineEndpoint({ ...WS, name: 'silent-token', authMode: 'AMLToken' });
  });

  afterAll(async () => {
    restoreEnv?.();
    await em?.stop();
  });

  it('answers 503 timeout within fetchTimeLimitMs, then serves a token once ARM answers again', async () => {
    // Prepare
    const ml = new AzureMachineLearningWorkspaces(new ManagedIdentityCredential(), WS.subscriptionId, {
      endpoint: em.url,
      $host: em.url,
      apiVersion: '2024-10-01',
      credentialScopes: ['https://management.azure.com/.default'],
      httpClient: timeLimitedHttpClient(createDefaultHttpClient(), DEFAULT_TRY_TIME_LIMIT_MS),
    });
    const source = new ArmEndpointTokenSource({ onlineEndpoints: () => ml.onlineEndpoints });
    const endpoint = testEndpoint('silent-token', 'AMLToken', { arm: { ...WS, name: 'silent-token' } });
    const fetch: TokenFetch = { upstream: 'amlToken', fetch: (signal) => source.getToken(endpoint, signal) };
    const logger = new CapturingLogger();
    const cache = new TokenCache({
      clock: systemClock,
      logger,
      telemetry: new CapturingTelemetry(),
      minLifetimeSeconds: 5,
      refreshFraction: 0.5,
      maxEntries: 10,
      retryIntervalMs: 200,
      fetchTimeLimitMs: FETCH_TIME_LIMIT_MS,
    });
    em.control.setFault('arm', { latencyMs: 20_000 });

    // Act
    const started = Date.now();
    const refused = await cache.get('aml:silent-token', fetch).catch((error: unknown) => error);
    const refusedAfterMs = Date.now() - started;
    em.control.clearFaults();
    await sleep(300);
    const token = await cache.get('aml:silent-token', fetch);

    // Assess
    expect(refused).toBeInstanceOf(UpstreamUnavailableError);
    expect(refused).toMatchObject({ upstream: 'amlToken', failure: 'timeout', retryAfterSeconds: 1 });
    expect(refusedAfterMs).toBeGreaterThanOrEqual(FETCH_TIME_LIMIT_MS - 50);
    expect(refusedAfterMs).toBeLessThan(FETCH_TIME_LIMIT_MS + 3000);
    expect(token.value.split('.')).toHaveLength(3);
    expect(logger.lines.map((l) => [l.message, l.props?.['failure']])).toEqual([
      ['refresh => upstream failed', 'timeout'],
    ]);
  }, 30_000);
});
