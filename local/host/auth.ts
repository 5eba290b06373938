import { timingSafeEqual } from 'node:crypto';

/** The keys the host accepts: the master key (everything) and the default host function key. */
export interface HostKeys {
  readonly masterKey: string;
  readonly defaultKey: string;
}

/** Auth levels as in `HttpTrigger.authLevel` (`system` treated like `admin`). */
export type AuthLevel = 'anonymous' | 'function' | 'admin';

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The presented key: `x-functions-key` header first, then the `code` query parameter (like the host). */
export function presentedKey(
  headers: Record<string, string | string[] | undefined>,
  url: URL,
): string | undefined {
  const header = headers['x-functions-key'];
  const value = Array.isArray(header) ? header[0] : header;
  return value ?? url.searchParams.get('code') ?? undefined;
}

/** Normalises a binding's `authLevel` (case-insensitive; unknown → function, the safer side). */
export function toAuthLevel(value: unknown): AuthLevel {
  const v = typeof value === 'string' ? value.toLowerCase() : 'anonymous';
  if (v === 'anonymous') return 'anonymous';
  if (v === 'admin' || v === 'system') return 'admin';
  return 'function';
}

/**
 * Whether a request with `key` may call something at `level`: anonymous is open, function level takes
 * the default key or the master key, admin level only the master key. Comparisons are constant-time.
 */
export function isAuthorized(level: AuthLevel, key: string | undefined, keys: HostKeys): boolean {
  if (level === 'anonymous') return true;
  if (key === undefined || key === '') return false;
  if (same(key, keys.masterKey)) return true;
  return level === 'function' && same(key, keys.defaultKey);
}
