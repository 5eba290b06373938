/**
 * NCRONTAB schedules as the Azure Functions timer trigger reads them: six fields
 * `{second} {minute} {hour} {day} {month} {day-of-week}` (UTC), each `*`, a value, a range `a-b`,
 * a list `a,b`, or a step `*\/n` / `a-b/n` / `a/n`; months and days also by name or a prefix of it (`JAN`,
 * `Monday`, `MON`). As in NCrontab (the library the host parses with): days of the week are 0-6 (0 = Sunday;
 * 7 is refused there, so here too), and a range written backwards (`5-1`) means the same range forwards.
 * The TimeSpan form `hh:mm:ss` (a fixed interval) is accepted too.
 */

/** Thrown for a schedule that cannot be parsed; the message names the field. */
export class NcrontabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NcrontabError';
  }
}

/** A parsed schedule. */
export type Schedule =
  | { readonly kind: 'cron'; readonly fields: readonly (readonly boolean[])[] }
  | { readonly kind: 'interval'; readonly ms: number };

const FIELDS = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day-of-week', min: 0, max: 6 },
] as const;
const MONTHS = [
  'JANUARY',
  'FEBRUARY',
  'MARCH',
  'APRIL',
  'MAY',
  'JUNE',
  'JULY',
  'AUGUST',
  'SEPTEMBER',
  'OCTOBER',
  'NOVEMBER',
  'DECEMBER',
];
const DAYS = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];

/** The index of the first name that starts with `text` (NCrontab matches names by prefix), or -1. */
function nameIndex(names: readonly string[], text: string): number {
  const upper = text.toUpperCase();
  return upper === '' ? -1 : names.findIndex((name) => name.startsWith(upper));
}

function parseField(text: string, index: number): boolean[] {
  const spec = FIELDS[index];
  if (!spec) throw new NcrontabError('Too many fields');
  const fail = (why: string): never => {
    throw new NcrontabError(`Invalid ${spec.name} field "${text}": ${why}`);
  };
  const value = (v: string): number => {
    const named = index === 4 ? nameIndex(MONTHS, v) + 1 : index === 5 ? nameIndex(DAYS, v) : -1;
    const n =
      named > 0 || (index === 5 && named === 0)
        ? named
        : /^\d+$/.test(v)
          ? Number(v)
          : fail(`"${v}" is not a number`);
    if (n < spec.min || n > spec.max) fail(`${n} is outside ${spec.min}-${spec.max}`);
    return n;
  };
  const allowed = new Array<boolean>(spec.max + 1).fill(false);
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step =
      stepText === undefined
        ? 1
        : /^\d+$/.test(stepText) && Number(stepText) > 0
          ? Number(stepText)
          : fail(`bad step "${stepText}"`);
    let from: number;
    let to: number;
    if (range === '*') [from, to] = [spec.min, spec.max];
    else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      [from, to] = [value(a), value(b)];
      if (from > to) [from, to] = [to, from];
    } else {
      from = value(range);
      to = stepText === undefined ? from : spec.max;
    }
    for (let v = from; v <= to; v += step) allowed[v] = true;
  }
  return allowed;
}

/** Parses an NCRONTAB expression or a TimeSpan; throws {@link NcrontabError} naming the bad field. */
export function parseSchedule(expression: string): Schedule {
  const text = expression.trim();
  const span = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(text);
  if (span) {
    const [, d, h, m, s] = span;
    const ms = (((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(m)) * 60 + Number(s)) * 1000;
    if (ms <= 0) throw new NcrontabError(`TimeSpan schedule "${text}" must be positive`);
    return { kind: 'interval', ms };
  }
  const parts = text.split(/\s+/);
  if (parts.length !== 6)
    throw new NcrontabError(
      `Schedule "${text}" must have 6 fields (second minute hour day month day-of-week), got ${parts.length}`,
    );
  return { kind: 'cron', fields: parts.map(parseField) };
}

function dayMatches(s: Extract<Schedule, { kind: 'cron' }>, d: Date): boolean {
  // NCrontab (unlike Vixie cron) requires both day fields to match when both are restricted.
  return s.fields[3]?.[d.getUTCDate()] === true && s.fields[5]?.[d.getUTCDay()] === true;
}

/**
 * The first occurrence strictly after `after` (UTC, whole seconds).
 * @example nextOccurrence('0 *\/5 * * * *', new Date('2026-01-01T00:01:00Z')) // 00:05:00Z
 */
export function nextOccurrence(expression: string | Schedule, after: Date): Date {
  const s = typeof expression === 'string' ? parseSchedule(expression) : expression;
  if (s.kind === 'interval') return new Date(after.getTime() + s.ms);
  const t = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
  const has = (field: number, v: number): boolean => s.fields[field]?.[v] === true;
  const limit = after.getTime() + 50 * 366 * 24 * 3600 * 1000;
  while (t.getTime() <= limit) {
    if (!has(4, t.getUTCMonth() + 1)) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0);
    } else if (!dayMatches(s, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0);
    } else if (!has(2, t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0);
    } else if (!has(1, t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0);
    } else if (!has(0, t.getUTCSeconds())) {
      t.setUTCSeconds(t.getUTCSeconds() + 1);
    } else return t;
  }
  throw new NcrontabError(
    `Schedule "${typeof expression === 'string' ? expression : 'parsed'}" has no occurrence within 50 years`,
  );
}

/** Whether `date` (whole second, UTC) is an occurrence of a cron schedule. */
export function matchesSchedule(schedule: Schedule, date: Date): boolean {
  if (schedule.kind === 'interval') return true;
  const f = schedule.fields;
  return (
    f[0]?.[date.getUTCSeconds()] === true &&
    f[1]?.[date.getUTCMinutes()] === true &&
    f[2]?.[date.getUTCHours()] === true &&
    f[4]?.[date.getUTCMonth() + 1] === true &&
    dayMatches(schedule, date)
  );
}
