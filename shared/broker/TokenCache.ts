import { type Clock, withinTimeLimitGivingUp } from '../clock';
import type { Logger } from '../logging';
import type { Telemetry } from '../telemetry';
import { classifyUpstreamError } from './classifyUpstreamError';
import { UpstreamTokenError, UpstreamUnavailableError } from './errors';
import { LruMap } from './LruMap';
import { isTransientFailure, type UpstreamClass, type UpstreamToken } from './UpstreamToken';

/** A token the cache may hand out, with the times that govern it (epoch ms). */
export interface CachedToken {
  readonly value: string;
  /** `value` as a JSON string literal: escaped once here, not in every answer that carries it. */
  readonly valueJson: string;
  readonly expiresOnMs: number;
  /** After this, a background refresh starts while the token keeps being served. */
  readonly refreshAtMs: number;
  /** After this the token has less than the minimum lifetime left and is never handed out. */
  readonly servableUntilMs: number;
}

/** How to fetch the token behind one cache key. Build it once per scope, not per request. */
export interface TokenFetch {
  readonly upstream: UpstreamClass;
  /**
   * What the token is fetched from, when one cache key may stand for different things over time (an
   * endpoint id: `endpointOrigin`). A token cached for another origin is not handed out.
   */
  readonly origin?: string;
  /** Azure region of the upstream, when known (telemetry only). */
  readonly region?: string;
  /** @param abortSignal - fires when the cache gives the call up (see `fetchTimeLimitMs`) */
  fetch(abortSignal?: AbortSignal): Promise<UpstreamToken>;
}

/** Options of {@link TokenCache}. */
export interface TokenCacheOptions {
  clock: Clock;
  logger: Logger;
  telemetry: Telemetry;
  /** Never hand out a token with less than this left. */
  minLifetimeSeconds: number;
  /** Refresh after this fraction of the lifetime when the issuer gives no refresh hint. */
  refreshFraction: number;
  /** Most cache keys kept. */
  maxEntries: number;
  /** Pause after a transient upstream failure, and the shortest after any failure. @default 2000 */
  retryIntervalMs?: number;
  /** Pause after a definite upstream failure (denied, not found, bad response). @default 30000 */
  definiteFailureRetryMs?: number;
  /**
   * Longest an upstream call may take before it counts as failed (`timeout`): the Azure SDKs set no time
   * limit, and one call that never answers would otherwise hold its key's single flight, and every
   * request that waits on it, for good. The call is then aborted (its request closed).
   * @default DEFAULT_FETCH_TIME_LIMIT_MS
   */
  fetchTimeLimitMs?: number;
  /** Floor between two refreshes of one key, however early the issuer's hint. @default 5000 */
  minRefreshIntervalMs?: number;
  /** How often the hit ratio metric is emitted. @default 60000 */
  statsIntervalMs?: number;
}

interface Entry {
  /** The `origin` of the fetch that created the entry. */
  readonly origin: string | undefined;
  token: CachedToken | undefined;
  inflight: Promise<CachedToken> | undefined;
  /** No upstream call before this (after a failure). */
  retryAtMs: number;
  lastFailure: UpstreamTokenError | undefined;
}

/** Default time limit of one upstream call (`fetchTimeLimitMs`). */
export const DEFAULT_FETCH_TIME_LIMIT_MS = 30_000;
/** Default pause after a definite upstream failure (`definiteFailureRetryMs`). */
export const DEFINITE_FAILURE_RETRY_MS = 30_000;
/** Longest `Retry-After` the broker passes on or asks for while an upstream is unavailable. */
export const MAX_RETRY_AFTER_SECONDS = 60;

/**
 * Per-process token cache with the semantics of `@azure/core-rest-pipeline`'s token cycler:
 * one in-flight upstream call per key (N concurrent misses cause one fetch); refresh ahead at the
 * issuer's `refreshAfter`, else at `refreshFraction` of the lifetime, in the background while the old
 * token is still served; a token that is still servable keeps being served while the upstream fails
 * (the workspace-region outage); a token with less than `minLifetimeSeconds` left is never handed out;
 * after a failure the key rests for a retry interval so an outage is not hammered; bounded LRU size.
 *
 * ```
 * fetchedAt ──────── refreshAt ─────────────── servableUntil ──── expiresOn
 *   serve              serve + 1 background       fetch and wait      (min lifetime:
 *                      refresh (single flight)    or 503 Retry-After    never served)
 * ```
 * @example const token = await cache.get('aml:demo-token', fetchSpec);
 */
export class TokenCache {
  private readonly entries: LruMap<string, Entry>;
  /**
   * Entries dropped for space while their fetch ran, until it settles: a request for the key meanwhile
   * takes the entry back and joins that fetch (single flight), and a fetch that succeeds, or fails while
   * the entry's token can still be served, puts its entry back. Holds only running fetches, each bounded
   * by `fetchTimeLimitMs`.
   */
  private readonly droppedInFlight = new Map<string, Entry>();
  private readonly retryIntervalMs: number;
  private readonly definiteFailureRetryMs: number;
  private readonly minRefreshIntervalMs: number;
  private readonly fetchTimeLimitMs: number;
  private readonly statsIntervalMs: number;
  private readonly minLifetimeMs: number;
  private hits = 0;
  private misses = 0;
  private statsSinceMs: number;

  constructor(private readonly options: TokenCacheOptions) {
    this.entries = new LruMap(options.maxEntries, (key, entry) => {
      if (entry.inflight) this.droppedInFlight.set(key, entry);
    });
    this.retryIntervalMs = options.retryIntervalMs ?? 2000;
    this.definiteFailureRetryMs = options.definiteFailureRetryMs ?? DEFINITE_FAILURE_RETRY_MS;
    this.minRefreshIntervalMs = options.minRefreshIntervalMs ?? 5000;
    this.fetchTimeLimitMs = options.fetchTimeLimitMs ?? DEFAULT_FETCH_TIME_LIMIT_MS;
    this.statsIntervalMs = options.statsIntervalMs ?? 60_000;
    this.minLifetimeMs = options.minLifetimeSeconds * 1000;
    this.statsSinceMs = options.clock.now();
  }

  /** Number of keys held (bounded by `maxEntries`). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Returns a token with at least the minimum lifetime left for `key`, fetching through `source` when
   * none is cached. Throws `UpstreamUnavailableError` (503, `Retry-After`) when none can be had.
   * @param key - cache key, e.g. `aml:<endpointId>` or `mi:<resource>`
   * @param source - how to fetch it
   */
  async get(key: string, source: TokenFetch): Promise<CachedToken> {
    const now = this.options.clock.now();
    const cached = this.getCached(key, source, now);
    if (cached) return cached;
    this.misses++;
    // getCached left the key's entry, if it has one, in `entries` (taken back, or dropped for its origin).
    let entry = this.entries.get(key);
    if (!entry) {
      entry = {
        origin: source.origin,
        token: undefined,
        inflight: undefined,
        retryAtMs: 0,
        lastFailure: undefined,
      };
      this.entries.set(key, entry);
    }
    if (entry.inflight) return entry.inflight;
    if (entry.lastFailure && now < entry.retryAtMs) {
      throw this.unavailable(entry.lastFailure, entry.retryAtMs - now);
    }
    return this.refresh(key, entry, source);
  }

  /**
   * The token `get` would answer at once, synchronously (the warm path of a vend): a cached one that can
   * still be served at `now` (its background refresh started when due, the hit counted); else undefined,
   * and `get` must fetch or wait.
   * @param key - cache key, e.g. `aml:<endpointId>` or `mi:<resource>`
   * @param source - how to fetch it (for the refresh ahead)
   * @param now - the clock's time
   */
  getCached(key: string, source: TokenFetch, now: number): CachedToken | undefined {
    if (now - this.statsSinceMs >= this.statsIntervalMs) this.emitStats(now);
    const entry = this.entries.get(key) ?? this.takeBack(key);
    if (!entry) return undefined;
    if (entry.origin !== source.origin) {
      // The key stands for something else now (an endpoint changed on another instance, or a lookup
      // read before a change here): its token, or the fetch running for it, belongs to the old one.
      this.invalidate(key);
      return undefined;
    }
    const token = entry.token;
    if (!token || now >= token.servableUntilMs) return undefined;
    this.hits++;
    if (this.shouldRefresh(entry, token, now)) this.refresh(key, entry, source).catch(() => undefined);
    return token;
  }

  /**
   * Drops the cached token of one key (all keys when omitted), e.g. after its endpoint changed. A fetch
   * still running answers its own callers but is not kept: it may have read the old state.
   */
  invalidate(key?: string): void {
    if (key === undefined) {
      this.entries.clear();
      this.droppedInFlight.clear();
    } else {
      this.entries.delete(key);
      this.droppedInFlight.delete(key);
    }
  }

  /** The entry of `key` dropped for space while its fetch runs, put back in the cache; else undefined. */
  private takeBack(key: string): Entry | undefined {
    const entry = this.droppedInFlight.get(key);
    if (entry) {
      this.droppedInFlight.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** Background refresh is due: past `refreshAt`, nothing in flight, not resting after a failure. */
  private shouldRefresh(entry: Entry, token: CachedToken, now: number): boolean {
    return now >= token.refreshAtMs && entry.inflight === undefined && now >= entry.retryAtMs;
  }

  /** Starts the upstream call of `key` as the entry's single flight; its callers share the answer. */
  private refresh(key: string, entry: Entry, source: TokenFetch): Promise<CachedToken> {
    const startedMs = this.options.clock.now();
    const inflight = withinTimeLimitGivingUp((signal) => source.fetch(signal), this.fetchTimeLimitMs)
      .then((upstream) => this.accept(source, upstream, this.options.clock.now()))
      .then(
        (token) => this.fetched(key, entry, source, token, startedMs),
        (error: unknown) => {
          throw this.fetchFailed(key, entry, source, error, startedMs);
        },
      );
    entry.inflight = inflight;
    return inflight;
  }

  /** Stores a fetched token and clears the entry's failure. */
  private fetched(
    key: string,
    entry: Entry,
    source: TokenFetch,
    token: CachedToken,
    startedMs: number,
  ): CachedToken {
    this.trackLatency(source, this.options.clock.now() - startedMs, 'success');
    entry.token = token;
    entry.inflight = undefined;
    entry.lastFailure = undefined;
    entry.retryAtMs = 0;
    if (this.droppedInFlight.get(key) === entry) this.takeBack(key);
    return token;
  }

  /**
   * Records a failed fetch: the entry rests before its next upstream call, and keeps its token only
   * while that can still be served.
   * @returns the error for the fetch's callers (503 with `Retry-After`)
   */
  private fetchFailed(
    key: string,
    entry: Entry,
    source: TokenFetch,
    error: unknown,
    startedMs: number,
  ): UpstreamUnavailableError {
    const now = this.options.clock.now();
    const failure = classifyUpstreamError(source.upstream, error);
    this.trackLatency(source, now - startedMs, failure.failure);
    entry.inflight = undefined;
    entry.lastFailure = failure;
    entry.retryAtMs = now + this.pauseAfter(failure);
    // Reset on hard failure: a token that can no longer be served is dropped (cycler semantics).
    if (entry.token && now >= entry.token.servableUntilMs) entry.token = undefined;
    // Dropped for space meanwhile: a token still served goes back, as after a refresh that succeeds.
    if (this.droppedInFlight.get(key) === entry) {
      if (entry.token) this.takeBack(key);
      else this.droppedInFlight.delete(key);
    }
    this.options.logger.warn('refresh => upstream failed', {
      cacheEntry: key,
      upstream: failure.upstream,
      failure: failure.failure,
      status: failure.upstreamStatus,
      servingCached: entry.token !== undefined,
    });
    return this.unavailable(failure, entry.retryAtMs - now, { cause: failure });
  }

  /** Validates an upstream answer and derives the refresh and servable times. */
  private accept(source: TokenFetch, upstream: UpstreamToken, now: number): CachedToken {
    if (
      typeof upstream.value !== 'string' ||
      upstream.value === '' ||
      !Number.isFinite(upstream.expiresOnMs)
    ) {
      throw new UpstreamTokenError(source.upstream, 'badResponse');
    }
    const servableUntilMs = upstream.expiresOnMs - this.minLifetimeMs;
    if (servableUntilMs <= now) throw new UpstreamTokenError(source.upstream, 'tooShortLived');
    const hinted =
      upstream.refreshAfterMs !== undefined &&
      Number.isFinite(upstream.refreshAfterMs) &&
      upstream.refreshAfterMs < servableUntilMs
        ? upstream.refreshAfterMs
        : now + (upstream.expiresOnMs - now) * this.options.refreshFraction;
    // A refresh due only once the token is no longer served is no refresh ahead: requests would wait for
    // it, and an outage would meet them with nothing to serve. Take the fraction of the servable time.
    const hint =
      hinted < servableUntilMs ? hinted : now + (servableUntilMs - now) * this.options.refreshFraction;
    const refreshAtMs = Math.min(Math.max(hint, now + this.minRefreshIntervalMs), servableUntilMs);
    return {
      value: upstream.value,
      valueJson: JSON.stringify(upstream.value),
      expiresOnMs: upstream.expiresOnMs,
      refreshAtMs,
      servableUntilMs,
    };
  }

  private pauseAfter(failure: UpstreamTokenError): number {
    const hinted = failure.upstreamRetryAfterSeconds;
    // Never shorter than the retry interval: a Retry-After of 0 (or a negative one, read as 0) would
    // otherwise send every request during an outage to the upstream.
    if (hinted !== undefined)
      return Math.max(this.retryIntervalMs, Math.min(hinted, MAX_RETRY_AFTER_SECONDS) * 1000);
    return isTransientFailure(failure.failure) ? this.retryIntervalMs : this.definiteFailureRetryMs;
  }

  private unavailable(
    failure: UpstreamTokenError,
    waitMs: number,
    options?: ErrorOptions,
  ): UpstreamUnavailableError {
    const seconds = Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(waitMs / 1000)));
    return new UpstreamUnavailableError(failure.upstream, failure.failure, seconds, options);
  }

  private trackLatency(source: TokenFetch, ms: number, outcome: string): void {
    this.options.telemetry.trackMetric('BrokerUpstreamLatencyMs', ms, {
      upstream: source.upstream,
      region: source.region,
      outcome,
    });
  }

  private emitStats(now: number): void {
    const total = this.hits + this.misses;
    if (total > 0) {
      this.options.telemetry.trackMetric('BrokerCacheHitRatio', this.hits / total, {
        requests: total,
        entries: this.entries.size,
      });
    }
    this.hits = 0;
    this.misses = 0;
    this.statsSinceMs = now;
  }
}
