import type { EmulatedService, Fault } from './types';

/** What the injector decided for one request. */
export type FaultDecision =
  { kind: 'none' } | { kind: 'outage' } | { kind: 'status'; status: number; retryAfterSeconds?: number };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Per-service faults: latency, an error status, or a dropped connection, each with a probability. */
export class FaultInjector {
  private readonly faults = new Map<string, Fault>();

  constructor(private readonly random: () => number = Math.random) {}

  /**
   * Sets (or with undefined clears) the fault of one service, or of one scope of it (a region of the
   * model-management service: a regional outage).
   */
  set(service: EmulatedService, fault: Fault | undefined, scope?: string): void {
    const key = scope === undefined ? service : `${service}:${scope.toLowerCase()}`;
    if (fault === undefined) this.faults.delete(key);
    else this.faults.set(key, { ...fault });
  }

  /** Clears every fault. */
  clear(): void {
    this.faults.clear();
  }

  /** Waits the configured latency, then says whether the request fails and how. */
  async apply(service: EmulatedService, scope?: string): Promise<FaultDecision> {
    const fault =
      (scope !== undefined ? this.faults.get(`${service}:${scope}`) : undefined) ?? this.faults.get(service);
    if (!fault) return { kind: 'none' };
    if (this.random() >= (fault.probability ?? 1)) return { kind: 'none' };
    if (fault.latencyMs) await sleep(fault.latencyMs);
    if (fault.outage) return { kind: 'outage' };
    if (fault.status === undefined) return { kind: 'none' };
    const retry =
      fault.status === 429 || fault.status === 503 ? (fault.retryAfterSeconds ?? 1) : fault.retryAfterSeconds;
    return retry === undefined
      ? { kind: 'status', status: fault.status }
      : { kind: 'status', status: fault.status, retryAfterSeconds: retry };
  }
}

/** Outcome of taking one write token. */
export type ThrottleResult =
  { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number };

/**
 * ARM's regional token bucket for writes (in Azure 200 tokens refilled at 10 a second, per subscription
 * and principal). Off until configured, so tests that do not study throttling never meet it.
 */
export class WriteThrottle {
  private config: { capacity: number; refillPerSecond: number } | undefined;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Sets or removes the limits; buckets start full. */
  configure(config: { capacity: number; refillPerSecond: number } | undefined): void {
    this.config = config ? { ...config } : undefined;
    this.buckets.clear();
  }

  /** Takes a token from `key`'s bucket at time `now` (ms). */
  take(key: string, now: number): ThrottleResult | undefined {
    const config = this.config;
    if (!config) return undefined;
    const bucket = this.buckets.get(key) ?? { tokens: config.capacity, at: now };
    bucket.tokens = Math.min(
      config.capacity,
      bucket.tokens + ((now - bucket.at) / 1000) * config.refillPerSecond,
    );
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, remaining: Math.floor(bucket.tokens) };
    }
    const wait = config.refillPerSecond > 0 ? (1 - bucket.tokens) / config.refillPerSecond : 60;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(wait)) };
  }
}
