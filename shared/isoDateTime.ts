/**
 * A date-time as RFC 3339 writes it (the internet profile of ISO 8601): date, `T`, time with seconds
 * and an optional fraction, and an explicit offset, `Z` or `±hh:mm`. `Date.parse` alone takes far more,
 * and differently per engine: "1" is 2001-01-01, "12/31/2030" is local time, "2026-02-31" rolls over
 * to March 3.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Milliseconds since the epoch of an RFC 3339 date-time; undefined for any other text and for dates
 * and times that do not exist (February 31, 24:00, a leap second). Digits beyond milliseconds are cut.
 * @example parseIsoDateTime('2030-12-31T23:00:00+01:00') === Date.UTC(2030, 11, 31, 22)
 */
export function parseIsoDateTime(text: string): number | undefined {
  const match = DATE_TIME.exec(text);
  if (!match) return undefined;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map(Number);
  const [offsetHours, offsetMinutes] = [Number(match[9] ?? 0), Number(match[10] ?? 0)];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return undefined;
  const millis = Number((match[7] ?? '.').slice(1).padEnd(3, '0').slice(0, 3));
  // setUTCFullYear, not Date.UTC: Date.UTC reads the years 0-99 as 1900-1999.
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day);
  at.setUTCHours(hour, minute, second, millis);
  const offset = (match[8] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  return at.getTime() - offset;
}

/** Text that {@link parseIsoDateTime} reads: what this app writes for every stored time. */
export function isIsoDateTime(value: unknown): value is string {
  return typeof value === 'string' && parseIsoDateTime(value) !== undefined;
}

const EARLIEST_DATE_TIME_MS = Date.parse('0000-01-01T00:00:00.000Z');
const LATEST_DATE_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * The instant in UTC as `toISOString` writes it, or undefined when that is no RFC 3339 date-time: it writes the
 * years past 9999 (an offset can carry 9999-12-31 there) as "+010000-…", which no reader of RFC 3339 takes,
 * and throws past ±275,760 years. Undefined for NaN and undefined too.
 */
export function utcDateTime(at: number | undefined): string | undefined {
  return at !== undefined && at >= EARLIEST_DATE_TIME_MS && at <= LATEST_DATE_TIME_MS
    ? new Date(at).toISOString()
    : undefined;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}
