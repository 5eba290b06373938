import { UpstreamUnavailableError } from '../../../shared/broker/errors';
import { resolveV1TokenScope } from '../../../shared/broker/resolveV1Scope';
import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { buildTestBroker, type TestBroker } from '../../fakes/broker/buildTestBroker';
import { FakeUpstreamSource } from '../../fakes/broker/FakeUpstreamSource';
import { FakeV1Services } from '../../fakes/broker/FakeV1Services';
import { testEndpoint } from '../../fakes/broker/InMemoryEndpointLookup';
import { FakeClock } from '../../fakes/FakeClock';
import { settle } from '../../support/waitFor';

const SECOND = 1000;
const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

async function setUp(): Promise<{
  t: TestBroker;
  vend: () => ReturnType<TestBroker['module']['broker']['vend']>;
}> {
  const t = buildTestBroker();
  const c = await t.addClient({ allowedScopes: ['demo-aks'] });
  const vend = () =>
    t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope: 'demo-aks' });
  return { t, vend };
}

describe('Broker: v1 AKS service tokens', () => {
  it('serves the service token and refreshes it at refreshAfter, not before', async () => {
    // Prepare: tokens live an hour, the service asks for a refresh after 10 minutes
    const { t, vend } = await setUp();
    t.v1.behaviour = { kind: 'token', lifetimeMs: 3600 * SECOND, refreshAfterMs: 600 * SECOND };
    // Act
    const first = await vend();
    t.clock.advance(599 * SECOND);
    const beforeHint = await vend();
    t.clock.advance(2 * SECOND);
    const atHint = await vend(); // still the old token; the refresh runs in the background
    await settle();
    const afterRefresh = await vend();
    // Assess
    expect(first.token.value).toBe('v1ServiceToken-token-1');
    expect(beforeHint.token.value).toBe('v1ServiceToken-token-1');
    expect(atHint.token.value).toBe('v1ServiceToken-token-1');
    expect(afterRefresh.token.value).toBe('v1ServiceToken-token-2');
    expect(t.v1.calls).toBe(2);
    expect(t.v1.targets[0]).toMatchObject({
      kind: 'v1WebService',
      v1: { computeType: 'AKS', region: 'westeurope' },
    });
  });

  it('makes one upstream call and reads the service once for 200 concurrent cold requests', async () => {
    // Prepare
    const { t, vend } = await setUp();
    t.v1.behaviour = { kind: 'manual' };
    // Act
    const all = Array.from({ length: 200 }, () => vend());
    for (let i = 0; i < 20 && t.v1.calls === 0; i++) await settle();
    t.v1.release({ lifetimeMs: 3600 * SECOND });
    const results = await Promise.all(all);
    // Assess
    expect(t.v1.calls).toBe(1);
    expect(t.v1Services.reads).toBe(1);
    expect(new Set(results.map((r) => r.token.value))).toEqual(new Set(['v1ServiceToken-token-1']));
  });

  it('keeps serving a valid token through a region outage, then 503 + Retry-After, then recovers', async () => {
    // Prepare: a token valid for 20 minutes, refresh hint after 5
    const { t, vend } = await setUp();
    t.v1.behaviour = { kind: 'token', lifetimeMs: 1200 * SECOND, refreshAfterMs: 300 * SECOND };
    const warm = await vend();
    // Act 1: the workspace region goes down (token call and service read both fail)
    t.v1.behaviour = { kind: 'error', error: reset };
    t.v1Services.failWith = reset;
    const served: string[] = [];
    for (let s = 0; s < 840; s += 60) {
      t.clock.advance(60 * SECOND);
      served.push((await vend()).token.value);
      await settle();
    }
    // Act 2: past the last servable moment (expiry minus the 300 s minimum lifetime)
    t.clock.advance(120 * SECOND);
    const refused = await vend().catch((e: unknown) => e);
    // Act 3: the region comes back
    t.v1.behaviour = { kind: 'token', lifetimeMs: 1200 * SECOND, refreshAfterMs: 300 * SECOND };
    t.v1Services.failWith = undefined;
    t.clock.advance(5 * SECOND);
    const recovered = await vend();
    // Assess
    expect(served.every((v) => v === warm.token.value)).toBe(true);
    expect(refused).toBeInstanceOf(UpstreamUnavailableError);
    expect((refused as UpstreamUnavailableError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((refused as UpstreamUnavailableError).upstream).toBe('v1ServiceToken');
    expect(recovered.token.value).not.toBe(warm.token.value);
    // The outage was not hammered: a few retries over 14 minutes, not one per request.
    expect(t.v1.calls).toBeLessThan(20);
  });

  it('reports upstream latency per region in telemetry', async () => {
    // Prepare
    const { t, vend } = await setUp();
    // Act
    await vend();
    // Assess
    const metric = t.telemetry.metrics.find((m) => m.name === 'BrokerUpstreamLatencyMs');
    expect(metric?.props).toMatchObject({
      upstream: 'v1ServiceToken',
      region: 'westeurope',
      outcome: 'success',
    });
  });

  it('answers a cold request during a region outage with 503 + Retry-After, never a 500', async () => {
    // Prepare
    const { t, vend } = await setUp();
    t.v1Services.failWith = reset;
    // Act
    const refused = await vend().catch((e: unknown) => e);
    // Assess
    expect(refused).toBeInstanceOf(UpstreamUnavailableError);
    expect((refused as UpstreamUnavailableError).status).toBe(503);
    expect((refused as UpstreamUnavailableError).retryAfterSeconds).toBe(5);
  });

  it('passes on the Retry-After of a throttled (429) service read instead of asking clients back in 5 s', async () => {
    // Prepare: model management throttles the app and asks for 30 s
    const { t, vend } = await setUp();
    t.v1Services.failWith = Object.assign(new Error('Model management answered 429'), {
      name: 'RestError',
      statusCode: 429,
      response: { headers: { get: (n: string) => (n === 'retry-after' ? '30' : undefined) } },
    });
    // Act
    const refused = await vend().catch((e: unknown) => e);
    // Assess
    expect(refused).toBeInstanceOf(UpstreamUnavailableError);
    expect(refused).toMatchObject({ status: 503, failure: 'throttled', retryAfterSeconds: 30 });
  });

  it('answers 503 timeout when the region does not answer the service read within the time limit', async () => {
    // Prepare
    const { endpoint, services, source } = aksTokenService();
    services.answers.close();

    // Act
    const refused = await resolveV1TokenScope(endpoint, { services, source, timeLimitMs: 30 }).catch(
      (error: unknown) => error,
    );

    // Assess
    expect(refused).toBeInstanceOf(UpstreamUnavailableError);
    expect(refused).toMatchObject({ upstream: 'v1ServiceToken', failure: 'timeout', retryAfterSeconds: 5 });
    services.answers.open();
  });

  it('gives the service read up when the time limit passes: its signal fires, so its request ends too', async () => {
    // Prepare: the region stops answering
    const { endpoint, services, source } = aksTokenService();
    services.answers.close();

    // Act
    const refused = await resolveV1TokenScope(endpoint, { services, source, timeLimitMs: 30 }).catch(
      (error: unknown) => error,
    );

    // Assess: one read, handed a signal that fired with the refusal, naming the time limit
    expect(refused).toMatchObject({ failure: 'timeout' });
    expect(services.signals).toHaveLength(1);
    expect(services.signals[0]?.aborted).toBe(true);
    expect(services.signals[0]?.reason).toMatchObject({ name: 'TimeLimitError', limitMs: 30 });
    services.answers.open();
  });

  it('hands the service read a signal that does not fire when the region answers in time', async () => {
    // Prepare
    const { endpoint, services, source } = aksTokenService();

    // Act
    const resolved = await resolveV1TokenScope(endpoint, { services, source, timeLimitMs: 30 });
    await new Promise((resolve) => setTimeout(resolve, 60));

    // Assess
    expect(resolved).toMatchObject({ requiresKeyAccess: false });
    expect(services.signals).toHaveLength(1);
    expect(services.signals[0]?.aborted).toBe(false);
  });
});

/** A v1 AKS service with token auth on, its endpoint, and a source of its tokens. */
function aksTokenService() {
  const endpoint = testEndpoint('demo-aks', 'AMLToken', {
    kind: 'v1WebService',
    v1: { computeType: 'AKS', region: 'westeurope' },
  });
  const services = new FakeV1Services();
  services.set('demo-aks', { computeType: 'AKS', tokenAuthEnabled: true, authEnabled: false });
  const source = new FakeUpstreamSource<ManagedEndpoint>('v1ServiceToken', new FakeClock());
  return { endpoint, services, source };
}
