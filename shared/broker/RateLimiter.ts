import { LruMap } from './LruMap';

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/**
 * Per-client token bucket, in process: a client may burst up to its per-minute limit and then gets
 * `limit / 60` requests per second. With several instances each enforces the limit on its own share of
 * the traffic (documented trade-off: no shared store on the hot path).
 */
export class RateLimiter {
  private readonly buckets: LruMap<string, Bucket>;

  /** @param maxClients - buckets kept (least recently used dropped first) @default 10000 */
  constructor(maxClients = 10_000) {
    this.buckets = new LruMap(maxClients);
  }

  /**
   * Takes one request from the client's bucket.
   * @returns 0 when allowed, else the seconds until a request is allowed again
   */
  take(clientId: string, perMinute: number, now: number): number {
    let bucket = this.buckets.get(clientId);
    if (!bucket) {
      bucket = { tokens: perMinute, updatedMs: now };
      this.buckets.set(clientId, bucket);
    } else if (now > bucket.updatedMs) {
      bucket.tokens = Math.min(perMinute, bucket.tokens + ((now - bucket.updatedMs) * perMinute) / 60_000);
      bucket.updatedMs = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - bucket.tokens) * 60_000) / perMinute / 1000));
  }

  /** Forgets a client's bucket (its limit changed or it was deleted). */
  forget(clientId: string): void {
    this.buckets.delete(clientId);
  }
}
