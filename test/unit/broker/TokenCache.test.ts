import { UpstreamTokenError, UpstreamUnavailableError } from '../../../shared/broker/errors';
import { TokenCache, type TokenFetch } from '../../../shared/broker/TokenCache';
import { isSecretPropertyName } from '../../../shared/logging';
import { FakeUpstreamSource } from '../../fakes/broker/FakeUpstreamSource';
import { CapturingLogger, CapturingTelemetry } from '../../fakes/capture';
import { FakeClock } from '../../fakes/FakeClock';
import { settle } from '../../support/waitFor';

const HOUR = 3_600_000;

function setup(
  overrides: { maxEntries?: number; minLifetimeSeconds?: number; fetchTimeLimitMs?: number } = {},
) {
  const clock = new FakeClock();
  const telemetry = new CapturingTelemetry();
  const logger = new CapturingLogger();
  const cache = new TokenCache({
    clock,
    telemetry,
    logger,
    minLifetimeSeconds: overrides.minLifetimeSeconds ?? 300,
    refreshFraction: 0.5,
    maxEntries: overrides.maxEntries ?? 100,
    ...(overrides.fetchTimeLimitMs !== undefined ? { fetchTimeLimitMs: overrides.fetchTimeLimitMs } : {}),
  });
  const source = new FakeUpstreamSource<string>('managedIdentity', clock);
  const fetch: TokenFetch = {
    upstream: 'managedIdentity',
    fetch: (signal) => source.getToken('https://ml.azure.com', signal),
  };
  return { clock, telemetry, logger, cache, source, fetch };
}

/** A one-entry cache whose key `a` is pushed out by `b` while a's fetch is still running. */
async function droppedWhileFetching() {
  const fixture = setup({ maxEntries: 1 });
  const { cache, source, fetch } = fixture;
  source.behaviour = { kind: 'manual' };
  const running = cache.get('a', fetch);
  await settle();
  source.behaviour = { kind: 'token', lifetimeMs: HOUR };
  await cache.get('b', fetch);
  return { ...fixture, running };
}

describe('Class: TokenCache', () => {
  describe('Method: get', () => {
    it('makes one upstream call for 100 concurrent misses of one key', async () => {
      // Prepare
      const { cache, source, fetch } = setup();
      source.behaviour = { kind: 'manual' };

      // Act
      const waiting = Array.from({ length: 100 }, () => cache.get('mi:ml', fetch));
      await settle();
      source.release({ lifetimeMs: HOUR });
      const tokens = await Promise.all(waiting);

      // Assess
      expect(source.calls).toBe(1);
      expect(new Set(tokens.map((t) => t.value))).toEqual(new Set(['managedIdentity-token-1']));
    });

    it('gives up an upstream call that does not answer within fetchTimeLimitMs, so the key is not held for good', async () => {
      // Prepare: a token past its servable time whose refresh never answers
      const { cache, source, fetch, clock, logger } = setup({ fetchTimeLimitMs: 30 });
      await cache.get('k', fetch);
      clock.advance(HOUR - 4 * 60_000);
      source.behaviour = { kind: 'manual' };

      // Act
      const waiting = [cache.get('k', fetch), cache.get('k', fetch)];
      const refused = await Promise.allSettled(waiting);
      source.behaviour = { kind: 'token', lifetimeMs: HOUR };
      clock.advance(2_000);
      const recovered = await cache.get('k', fetch);
      source.release({ lifetimeMs: HOUR }); // the given-up call answers late: dropped

      // Assess
      expect(refused.map((r) => (r.status === 'rejected' ? (r.reason as unknown) : r.value))).toEqual([
        expect.objectContaining({ upstream: 'managedIdentity', failure: 'timeout', retryAfterSeconds: 2 }),
        expect.objectContaining({ upstream: 'managedIdentity', failure: 'timeout', retryAfterSeconds: 2 }),
      ]);
      expect(recovered.value).toBe('managedIdentity-token-3');
      expect(source.calls).toBe(3);
      // The given-up call was aborted (its SDK request closed); the others were not.
      expect(source.signals.map((s) => s?.aborted)).toEqual([false, true, false]);
      expect(logger.lines.find((l) => l.message === 'refresh => upstream failed')?.props).toMatchObject({
        failure: 'timeout',
        servingCached: false,
      });
      expect((await cache.get('k', fetch)).value).toBe('managedIdentity-token-3');
    });

    it('serves the cached token without calling upstream again', async () => {
      // Prepare
      const { cache, source, fetch, clock } = setup();
      await cache.get('k', fetch);

      // Act
      clock.advance(10 * 60_000);
      const token = await cache.get('k', fetch);

      // Assess
      expect(token.value).toBe('managedIdentity-token-1');
      expect(source.calls).toBe(1);
    });

    it('refreshes ahead at the refresh fraction, serving the old token meanwhile', async () => {
      // Prepare
      const { cache, source, fetch, clock } = setup();
      await cache.get('k', fetch);
      clock.advance(HOUR / 2 + 1);

      // Act
      const during = await cache.get('k', fetch);
      await settle();
      const after = await cache.get('k', fetch);

      // Assess
      expect(during.value).toBe('managedIdentity-token-1');
      expect(after.value).toBe('managedIdentity-token-2');
      expect(source.calls).toBe(2);
    });

    it('honours the issuer refreshAfter hint before the fraction', async () => {
      // Prepare
      const { cache, source, fetch, clock } = setup();
      source.behaviour = { kind: 'token', lifetimeMs: HOUR, refreshAfterMs: 10 * 60_000 };
      await cache.get('k', fetch);

      // Act
      clock.advance(9 * 60_000);
      await cache.get('k', fetch);
      await settle();
      const callsBefore = source.calls;
      clock.advance(2 * 60_000);
      await cache.get('k', fetch);
      await settle();

      // Assess
      expect(callsBefore).toBe(1);
      expect(source.calls).toBe(2);
    });

    it.each([
      ['an issuer hint in the last minutes before expiry', { refreshAfterMs: HOUR - 60_000 }, 300],
      ['the refresh fraction with a long minimum lifetime', {}, 1800],
    ])(
      'refreshes ahead, while the token is still served, when %s falls after it stops being servable',
      async (_case, hint, minLifetimeSeconds) => {
        // Prepare: the upstream fails once the token has been cached.
        const { cache, source, fetch, clock } = setup({ minLifetimeSeconds });
        source.behaviour = { kind: 'token', lifetimeMs: HOUR, ...hint };
        const cached = await cache.get('k', fetch);
        source.behaviour = {
          kind: 'error',
          error: Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
        };

        // Act: a request a minute while the token may be served.
        while (clock.now() + 60_000 < cached.servableUntilMs) {
          clock.advance(60_000);
          await cache.get('k', fetch);
          await settle();
        }
        const callsWhileServed = source.calls;

        // Assess: the outage was met while the token could still be served (a background refresh),
        // not first by a request that then had nothing to serve.
        expect(cached.refreshAtMs).toBeLessThan(cached.servableUntilMs);
        expect(callsWhileServed).toBeGreaterThan(1);
      },
    );

    it('starts only one background refresh however many requests arrive during it', async () => {
      // Prepare
      const { cache, source, fetch, clock } = setup();
      await cache.get('k', fetch);
      clock.advance(HOUR / 2 + 1);
      source.behaviour = { kind: 'manual' };

      // Act
      const served = await Promise.all(Array.from({ length: 50 }, () => cache.get('k', fetch)));
      source.release({ lifetimeMs: HOUR });
      await settle();

      // Assess
      expect(source.calls).toBe(2);
      expect(served.every((t) => t.value === 'managedIdentity-token-1')).toBe(true);
    });

    it('keeps serving a still-valid token while the upstream fails', async () => {
      // Prepare
      const { cache, source, fetch, clock, logger } = setup();
      await cache.get('k', fetch);
      source.behaviour = { kind: 'error', error: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) };

      // Act
      clock.advance(HOUR / 2 + 1);
      const first = await cache.get('k', fetch);
      await settle();
      clock.advance(20 * 60_000);
      const later = await cache.get('k', fetch);
      await settle();

      // Assess
      expect(first.value).toBe('managedIdentity-token-1');
      expect(later.value).toBe('managedIdentity-token-1');
      const warning = logger.lines.find((l) => l.props?.['failure'] === 'network');
      expect(warning?.props?.['cacheEntry']).toBe('k');
      // Names the logger redacts (`…Key`, `…Token`) would hide which cache entry failed.
      expect(Object.keys(warning?.props ?? {}).filter(isSecretPropertyName)).toEqual([]);
    });

    it('rests after a failed background refresh too: requests served the still-valid token do not ask the upstream again until the pause ends', async () => {
      // Prepare: the background refresh of a cached token fails with a transient error (2 s pause)
      const { cache, source, fetch, clock } = setup();
      await cache.get('k', fetch);
      source.behaviour = { kind: 'error', error: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) };
      clock.advance(HOUR / 2 + 1);
      await cache.get('k', fetch);
      await settle();

      // Act: a second of traffic during the pause, then one request after it
      const served = [];
      for (let i = 0; i < 20; i++) {
        served.push(await cache.get('k', fetch));
        await settle();
        clock.advance(50);
      }
      const callsDuringPause = source.calls;
      clock.advance(1001);
      await cache.get('k', fetch);
      await settle();

      // Assess
      expect(served.every((t) => t.value === 'managedIdentity-token-1')).toBe(true);
      expect(callsDuringPause).toBe(2);
      expect(source.calls).toBe(3);
    });

    it('never hands out a token with less than the minimum lifetime left: 503 with Retry-After instead', async () => {
      // Prepare
      const { cache, source, fetch, clock } = setup({ minLifetimeSeconds: 300 });
      await cache.get('k', fetch);
      source.behaviour = { kind: 'error', error: Object.assign(new Error('down'), { statusCode: 503 }) };

      // Act
      clock.advance(HOUR - 299_000);
      const attempt = cache.get('k', fetch);

      // Assess
      await expect(attempt).rejects.toThrow(UpstreamUnavailableError);
      const error = (await attempt.catch((e: unknown) => e)) as UpstreamUnavailableError;
      expect(error.status).toBe(503);
      expect(error.upstream).toBe('managedIdentity');
      expect(error.failure).toBe('serverError');
      expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(error.message).toContain('serverError');
    });

    it('answers from the failure pause without calling upstream, then recovers without restart', async () => {
      // Prepare
      const { cache, source, fetch, clock } = setup();
      source.behaviour = { kind: 'error', error: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) };
      await expect(cache.get('k', fetch)).rejects.toThrow(UpstreamUnavailableError);

      // Act
      await expect(cache.get('k', fetch)).rejects.toThrow(UpstreamUnavailableError);
      const callsDuringPause = source.calls;
      source.behaviour = { kind: 'token', lifetimeMs: HOUR };
      clock.advance(2001);
      const recovered = await cache.get('k', fetch);

      // Assess
      expect(callsDuringPause).toBe(1);
      expect(recovered.value).toBe('managedIdentity-token-2');
    });

    it('uses the upstream Retry-After after throttling', async () => {
      // Prepare
      const { cache, source, fetch } = setup();
      source.behaviour = {
        kind: 'error',
        error: new UpstreamTokenError('managedIdentity', 'throttled', { retryAfterSeconds: 17 }),
      };

      // Act
      const error = (await cache.get('k', fetch).catch((e: unknown) => e)) as UpstreamUnavailableError;

      // Assess
      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect(error.failure).toBe('throttled');
      expect(error.retryAfterSeconds).toBe(17);
    });

    it.each([0, -5])(
      'still rests for its retry interval when the upstream asks for a Retry-After of %s',
      async (header) => {
        // Prepare: an upstream that is down and asks for no wait at all (or a malformed negative one).
        const { cache, source, fetch, clock } = setup();
        source.behaviour = {
          kind: 'error',
          error: Object.assign(new Error('down'), {
            statusCode: 503,
            response: { headers: { get: (n: string) => (n === 'retry-after' ? String(header) : undefined) } },
          }),
        };

        // Act: requests right after the failure.
        const first = (await cache.get('k', fetch).catch((e: unknown) => e)) as UpstreamUnavailableError;
        await expect(cache.get('k', fetch)).rejects.toThrow(UpstreamUnavailableError);
        clock.advance(1_000);
        await expect(cache.get('k', fetch)).rejects.toThrow(UpstreamUnavailableError);
        const callsDuringPause = source.calls;
        clock.advance(1_001);
        await expect(cache.get('k', fetch)).rejects.toThrow(UpstreamUnavailableError);

        // Assess: one call per retry interval, as after any transient failure, and an honest Retry-After.
        expect(callsDuringPause).toBe(1);
        expect(source.calls).toBe(2);
        expect(first.retryAfterSeconds).toBe(2);
      },
    );

    it('refuses a fresh token that is already too short-lived', async () => {
      // Prepare
      const { cache, source, fetch } = setup({ minLifetimeSeconds: 300 });
      source.behaviour = { kind: 'token', lifetimeMs: 200_000 };

      // Act
      const error = (await cache.get('k', fetch).catch((e: unknown) => e)) as UpstreamUnavailableError;

      // Assess
      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect(error.failure).toBe('tooShortLived');
    });

    it('keeps at most maxEntries keys, dropping the least recently used', async () => {
      // Prepare
      const { cache, source, fetch } = setup({ maxEntries: 3 });

      // Act
      for (const key of ['a', 'b', 'c']) await cache.get(key, fetch);
      await cache.get('a', fetch);
      await cache.get('d', fetch);
      const callsBefore = source.calls;
      await cache.get('a', fetch);
      await cache.get('b', fetch);

      // Assess
      expect(cache.size).toBe(3);
      expect(callsBefore).toBe(4);
      expect(source.calls).toBe(5);
    });

    it('keeps the token of a key that was dropped for space while its fetch ran', async () => {
      // Prepare
      const { cache, source, fetch, running } = await droppedWhileFetching();

      // Act
      source.release({ lifetimeMs: HOUR });
      await running;
      const again = await cache.get('a', fetch);

      // Assess: served from the cache, no third call (the fake names a token by the calls made when it is issued).
      expect(again.value).toBe('managedIdentity-token-2');
      expect(source.calls).toBe(2);
    });

    it('joins the running fetch of a key that was dropped for space, instead of starting a second one', async () => {
      // Prepare: a's fetch is still running when b pushes a out of a one-entry cache.
      const { cache, source, fetch, running: first } = await droppedWhileFetching();
      source.behaviour = { kind: 'manual' };

      // Act: a is asked for again while its first fetch still runs.
      const second = cache.get('a', fetch);
      await settle();
      const callsWhileRunning = source.calls;
      source.release({ lifetimeMs: HOUR });
      const [a1, a2] = await Promise.all([first, second]);

      // Assess: one upstream call for a, as for any N concurrent misses of one key.
      expect(callsWhileRunning).toBe(2);
      expect(a2.value).toBe(a1.value);
    });

    it('keeps serving the still-valid token of a key dropped for space while its background refresh ran and failed', async () => {
      // Prepare: a's background refresh runs when b pushes a out of a one-entry cache.
      const { cache, source, fetch, clock } = setup({ maxEntries: 1 });
      await cache.get('a', fetch);
      clock.advance(HOUR / 2 + 1);
      source.behaviour = { kind: 'manual' };
      await cache.get('a', fetch);
      await settle();
      source.behaviour = { kind: 'token', lifetimeMs: HOUR };
      await cache.get('b', fetch);

      // Act: the refresh fails (the upstream is down), then a is asked for again.
      source.release({ error: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) });
      await settle();
      source.behaviour = { kind: 'error', error: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) };
      const again = await cache.get('a', fetch).catch((e: unknown) => e);

      // Assess: as after a refresh that succeeds, the entry is back; its token is served without a call.
      expect(again).toMatchObject({ value: 'managedIdentity-token-1' });
      expect(source.calls).toBe(3);
    });

    it('does not put back a key invalidated while its fetch ran after it was dropped for space', async () => {
      // Prepare: a's fetch runs, b pushes a out, then a's endpoint changes (its key was replaced).
      const { cache, source, fetch, running } = await droppedWhileFetching();
      cache.invalidate('a');

      // Act
      source.release({ lifetimeMs: HOUR });
      const stale = await running;
      const next = await cache.get('a', fetch);

      // Assess: the fetch that read the old state answers its own caller only.
      expect(next.value).not.toBe(stale.value);
      expect(source.calls).toBe(3);
    });

    it('emits the hit ratio and upstream latency without token values', async () => {
      // Prepare
      const { cache, fetch, clock, telemetry } = setup();
      await cache.get('k', fetch);
      await cache.get('k', fetch);
      await cache.get('k', fetch);

      // Act
      clock.advance(61_000);
      await cache.get('k', fetch);

      // Assess
      const ratio = telemetry.metrics.find((m) => m.name === 'BrokerCacheHitRatio');
      expect(ratio?.value).toBeCloseTo(2 / 3);
      expect(
        telemetry.metrics.some(
          (m) => m.name === 'BrokerUpstreamLatencyMs' && m.props?.['upstream'] === 'managedIdentity',
        ),
      ).toBe(true);
      expect(telemetry.text()).not.toContain('managedIdentity-token');
    });
  });

  describe('Method: getCached', () => {
    it('answers the servable token get cached, without calling upstream, and undefined for a key with none', async () => {
      // Prepare
      const { cache, source, fetch, clock } = setup();
      const before = cache.getCached('k', fetch, clock.now());
      const fetched = await cache.get('k', fetch);

      // Act
      const warm = cache.getCached('k', fetch, clock.now() + 10 * 60_000);

      // Assess
      expect(before).toBeUndefined();
      expect(warm).toBe(fetched);
      expect(source.calls).toBe(1);
    });

    it('starts one background refresh once the token is due, serving it meanwhile', async () => {
      // Prepare
      const { cache, source, fetch, clock } = setup();
      await cache.get('k', fetch);
      clock.advance(HOUR / 2 + 1);

      // Act
      const during = [1, 2, 3].map(() => cache.getCached('k', fetch, clock.now())?.value);
      await settle();
      const after = cache.getCached('k', fetch, clock.now());

      // Assess
      expect(during).toEqual(Array(3).fill('managedIdentity-token-1'));
      expect(after?.value).toBe('managedIdentity-token-2');
      expect(source.calls).toBe(2);
    });

    it('leaves to get a token with less than the minimum lifetime left, or cached for another origin', async () => {
      // Prepare: the minimum lifetime is 300 s
      const { cache, source, fetch, clock } = setup();
      await cache.get('k', fetch);
      const moved: TokenFetch = { ...fetch, origin: 'https://elsewhere' };

      // Act
      const late = cache.getCached('k', fetch, clock.now() + HOUR - 299_000);
      const elsewhere = cache.getCached('k', moved, clock.now());
      const fetchedAgain = await cache.get('k', moved);

      // Assess: the other origin's token is dropped, not served
      expect([late, elsewhere]).toEqual([undefined, undefined]);
      expect(fetchedAgain.value).toBe('managedIdentity-token-2');
      expect(source.calls).toBe(2);
    });

    it('counts its answers as hits in the hit ratio', async () => {
      // Prepare
      const { cache, fetch, clock, telemetry } = setup();
      await cache.get('k', fetch);
      cache.getCached('k', fetch, clock.now());
      cache.getCached('k', fetch, clock.now());
      cache.getCached('k', fetch, clock.now());

      // Act
      clock.advance(61_000);
      cache.getCached('k', fetch, clock.now());

      // Assess
      const ratio = telemetry.metrics.find((m) => m.name === 'BrokerCacheHitRatio');
      expect(ratio?.value).toBeCloseTo(3 / 4);
    });
  });

  describe('Method: invalidate', () => {
    it('drops one key so the next request fetches again', async () => {
      // Prepare
      const { cache, source, fetch } = setup();
      await cache.get('k', fetch);

      // Act
      cache.invalidate('k');
      const token = await cache.get('k', fetch);

      // Assess
      expect(token.value).toBe('managedIdentity-token-2');
      expect(source.calls).toBe(2);
    });

    it('does not keep what a fetch that was running at the time brings back', async () => {
      // Prepare: a fetch that started before the endpoint changed.
      const { cache, source, fetch } = setup();
      source.behaviour = { kind: 'manual' };
      const running = cache.get('k', fetch);
      await settle();

      // Act
      cache.invalidate('k');
      source.release({ lifetimeMs: HOUR });
      const answered = await running;
      source.behaviour = { kind: 'token', lifetimeMs: HOUR };
      const next = await cache.get('k', fetch);

      // Assess: its own caller gets it; the next request reads the upstream again.
      expect(answered.value).toBe('managedIdentity-token-1');
      expect(next.value).toBe('managedIdentity-token-2');
      expect(source.calls).toBe(2);
    });
  });
});
