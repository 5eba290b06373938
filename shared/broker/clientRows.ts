import { parseIsoDateTime, utcDateTime } from '../isoDateTime';
import type { BrokerClientRecord } from './BrokerClient';

type Row = Record<string, unknown>;

/**
 * The columns of a client row and what each must hold for this version to read it, in words an error may
 * show (`ClientRecordUnreadableError`). Every version has written all of them, bar the two optional ones,
 * since the first: a row without one was edited by hand.
 */
export const STORED_FORMS = {
  displayName: 'a String',
  primarySecretHash: 'the base64url HMAC the app wrote',
  secondarySecretHash: 'the base64url HMAC the app wrote',
  allowedScopes: 'a String holding a JSON array of strings',
  rateLimitPerMinute: 'a number above 0, or no column',
  enabled: 'a Boolean',
  keyAccess: 'a Boolean',
  expiresAt: 'a date-time, or no column',
  createdAt: 'a date-time',
  updatedAt: 'a date-time',
} as const;

/** A column of a client row that this version reads. */
export type ClientColumn = keyof typeof STORED_FORMS;

/**
 * The columns this version writes, and those storage adds to a row it reads. Any other column was
 * written by another version and is carried through an update as it was read (`otherColumns`): an
 * update replaces the whole row, since clearing a rate limit or an expiry removes its column.
 */
const OWN_COLUMNS = new Set<string>([
  'partitionKey',
  'rowKey',
  'etag',
  'timestamp',
  ...Object.keys(STORED_FORMS),
]);

/** A secret's HMAC-SHA256 as `SecretHasher.hashForStorage` writes it: 32 bytes, base64url without padding. */
const HASH = /^[A-Za-z0-9_-]{43}$/;

/**
 * The row's client, or the columns that keep it from being one (by name, never with what they hold: a hand
 * edit may have pasted anything there). Read as the code uses each value, not by the admin API's rules of
 * the day (the 1,000,000 rate limit cap, say), which a stored client outlives. Storage Explorer's own types
 * for what a person means are read as that: a rate limit typed Int64 (which the Tables SDK answers as a
 * `bigint`) as its integer, a date typed DateTime (a `Date`) as its ISO string; the next write stores them
 * as this app does. Columns this version does not know are a newer version's (`otherColumns`), not a fault.
 */
export function readClientRow(row: Row): { record: BrokerClientRecord } | { unreadable: ClientColumn[] } {
  const unreadable: ClientColumn[] = [];
  const read = <T>(field: ClientColumn, parse: (value: unknown) => T | undefined): T => {
    const value = parse(row[field]);
    if (value === undefined) unreadable.push(field);
    return value as T;
  };
  const optional =
    <T>(parse: (value: unknown) => T | undefined) =>
    (value: unknown): T | null | undefined =>
      value === undefined ? null : parse(value);
  const displayName = read('displayName', (v) => (typeof v === 'string' ? v : undefined));
  const primarySecretHash = read('primarySecretHash', secretHash);
  const secondarySecretHash = read('secondarySecretHash', secretHash);
  const allowedScopes = read('allowedScopes', scopeList);
  const rateLimitPerMinute = read('rateLimitPerMinute', optional(rateLimit));
  const enabled = read('enabled', flag);
  const keyAccess = read('keyAccess', flag);
  const expiresAt = read('expiresAt', optional(dateTime));
  const createdAt = read('createdAt', dateTime);
  const updatedAt = read('updatedAt', dateTime);
  if (unreadable.length > 0) return { unreadable };
  const etag = row['etag'];
  return {
    record: {
      id: String(row['rowKey']),
      displayName,
      primarySecretHash,
      secondarySecretHash,
      allowedScopes,
      ...(rateLimitPerMinute !== null ? { rateLimitPerMinute } : {}),
      enabled,
      ...(expiresAt !== null ? { expiresAt } : {}),
      keyAccess,
      createdAt,
      updatedAt,
      ...(typeof etag === 'string' ? { version: etag } : {}),
      ...otherColumnsOf(row),
    },
  };
}

function secretHash(value: unknown): string | undefined {
  return typeof value === 'string' && HASH.test(value) ? value : undefined;
}

function scopeList(value: unknown): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  let scopes: unknown;
  try {
    scopes = JSON.parse(value);
  } catch {
    return undefined;
  }
  return Array.isArray(scopes) && scopes.every((s) => typeof s === 'string') ? scopes : undefined;
}

/** A positive number: what the rate limiter divides by. An Int64 (a `bigint`) that fits a double exactly counts. */
function rateLimit(value: unknown): number | undefined {
  if (typeof value === 'bigint')
    return value > 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

function flag(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

/**
 * A date-time as stored, in UTC as this app writes it: an RFC 3339 string (what the admin API takes), or
 * a DateTime column. Anything else is a hand edit whose meaning would be a guess (`Date.parse` reads
 * `12/31/2030` as local time and rolls February 31 over into March), so the row is unreadable; a string
 * that is no date was once even read as an expiry already past.
 */
function dateTime(value: unknown): string | undefined {
  const at =
    value instanceof Date ? value.getTime() : typeof value === 'string' ? parseIsoDateTime(value) : NaN;
  return utcDateTime(at);
}

/** The row's columns this version does not write (`otherColumns`); none when it has none. */
function otherColumnsOf(row: Row): { otherColumns?: Row } {
  const other = Object.entries(row).filter(([name]) => !OWN_COLUMNS.has(name) && !name.startsWith('odata.'));
  return other.length > 0 ? { otherColumns: Object.fromEntries(other) } : {};
}
