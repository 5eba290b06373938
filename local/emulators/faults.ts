import type { EmulatedService, Fault } from './types';

/** What the injector decided for one request. */
export type FaultDecision =
  { kind: 'none' } | { kind: 'outage' } | { kind: 'status'; status: number; retryAfterSeconds?: number };

/** Per-service faults: latency, an error status, or a dropped connection, each with a probability. */
export class FaultInjector {
  private readonly faults = new Map<string, Fault>();
  /** Latency waits in progress, each ended early by calling it. */
  private readonly waits = new Set<() => void>();

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

  /**
   * Ends the latency waits in progress as outages: the stand-in has stopped and closed their
   * connections. A wait left to run (20 s in the silent-upstream tests) kept the process that ran the
   * stand-in alive after its work was done ("Jest did not exit one second after the test run").
   */
  stop(): void {
    for (const end of this.waits) end();
  }

  /** Waits the configured latency, then says whether the request fails and how. */
  async apply(service: EmulatedService, scope?: string): Promise<FaultDecision> {
    const fault =
      (scope !== undefined ? this.faults.get(`${service}:${scope}`) : undefined) ?? this.faults.get(service);
    if (!fault) return { kind: 'none' };
    if (this.random() >= (fault.probability ?? 1)) return { kind: 'none' };
    if (fault.latencyMs && !(await this.wait(fault.latencyMs))) return { kind: 'outage' };
    if (fault.outage) return { kind: 'outage' };
    if (fault.status === undefined) return { kind: 'none' };
    const retry =
      fault.status === 429 || fault.status === 503 ? (fault.retryAfterSeconds ?? 1) : fault.retryAfterSeconds;
    return retry === undefined
      ? { kind: 'status', status: fault.status }
      : { kind: 'status', status: fault.status, retryAfterSeconds: retry };
  }

  /** Waits `ms`: true once they have passed, false if `stop` ended the wait first. */
  private wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const end = (waited: boolean): void => {
        clearTimeout(timer);
        this.waits.delete(stop);
        resolve(waited);
      };
      const stop = (): void => end(false);
      const timer = setTimeout(() => end(true), ms);
      this.waits.add(stop);
    });
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
