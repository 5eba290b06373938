/** A compiled route template (`manage/endpoints/{id}`, `{name?}`, `{id:int}`, `{*rest}`). */
export interface CompiledRoute {
  readonly template: string;
  /** Higher wins when several templates match (literal segments before parameters). */
  readonly precedence: number;
  match(path: string): Record<string, string> | undefined;
}

const CONSTRAINTS: Record<string, RegExp> = {
  int: /^-?\d+$/,
  long: /^-?\d+$/,
  alpha: /^[a-z]+$/i,
  bool: /^(true|false)$/i,
  guid: /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i,
};

/** The value of one hex digit's character code, or -1. */
function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/** The byte of the escape whose `%` is at `at`, or -1 when it is not `%` and two hex digits. */
function escapedByte(text: string, at: number): number {
  if (text[at] !== '%') return -1;
  const high = hexDigit(text.charCodeAt(at + 1));
  const low = hexDigit(text.charCodeAt(at + 2));
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

/** Bytes of the UTF-8 sequence a lead byte starts, or 0 when it cannot start one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) === 0xc0) return 2;
  if ((lead & 0xf0) === 0xe0) return 3;
  if ((lead & 0xf8) === 0xf0) return 4;
  return 0;
}

/**
 * Percent-decodes one path segment as UTF-8 the way the real host (ASP.NET Core's Kestrel, its
 * `UrlDecoder`) does: a malformed escape (`%zz`, a stray `%`) or escapes that are not valid UTF-8
 * (`%FF`, a lead byte without its continuation bytes, an overlong form, a surrogate) are left as sent,
 * and the rest is decoded. `decodeURIComponent` throws instead, which made the local host answer an
 * empty 500 where the real one hands the raw segment to the function, which answers its own 4xx.
 * (Unlike Kestrel, `%2F` is decoded, as the local host always did.)
 */
export function decodePathSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    // Malformed: decode sequence by sequence below.
  }
  let decoded = '';
  let from = 0;
  for (let percent = segment.indexOf('%'); percent >= 0; percent = segment.indexOf('%', from)) {
    decoded += segment.slice(from, percent);
    const lead = escapedByte(segment, percent);
    if (lead < 0) {
      // Not an escape: the `%` stays, and what follows it is read as usual.
      decoded += '%';
      from = percent + 1;
      continue;
    }
    const length = sequenceLength(lead);
    let end = percent + 3;
    for (let i = 1; i < length; i++) {
      const next = escapedByte(segment, end);
      if (next < 0 || (next & 0xc0) !== 0x80) break;
      end += 3;
    }
    if (length === 0 || end - percent !== 3 * length) {
      // No lead byte, or a continuation byte missing: the lead escape stays, as Kestrel copies it.
      decoded += segment.slice(percent, percent + 3);
      from = percent + 3;
      continue;
    }
    const escapes = segment.slice(percent, end);
    try {
      decoded += decodeURIComponent(escapes);
    } catch {
      // Well shaped but not UTF-8 (overlong, a surrogate, past U+10FFFF): Kestrel keeps it as sent.
      decoded += escapes;
    }
    from = end;
  }
  return decoded + segment.slice(from);
}

/**
 * Compiles an ASP.NET-style route template as the Functions host matches them: case-insensitive
 * literals, `{name}` one segment, `{name?}` optional, `{*name}` the rest; the constraints int, long,
 * alpha, bool and guid are checked, others are accepted without checking.
 */
export function compileRoute(template: string): CompiledRoute {
  const segments = template
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .filter((s) => s !== '');
  let precedence = 0;
  const parts = segments.map((segment) => {
    const p = /^\{(\*)?([A-Za-z0-9_]+)(?::([a-z]+)[^}]*)?(\?)?(?:=[^}]*)?\}$/.exec(segment);
    if (!p) {
      precedence += 3;
      return { literal: segment.toLowerCase() } as const;
    }
    const constraint = p[3] !== undefined ? CONSTRAINTS[p[3]] : undefined;
    precedence += constraint ? 2 : 1;
    return {
      name: p[2] ?? '',
      catchAll: p[1] === '*',
      optional: p[4] === '?' || p[1] === '*',
      constraint,
    } as const;
  });
  return {
    template,
    precedence,
    match(path: string): Record<string, string> | undefined {
      const given = path.split('/').filter((s) => s !== '');
      const params: Record<string, string> = {};
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i];
        if (part === undefined) return undefined;
        const value = given[i];
        if ('literal' in part) {
          if (value === undefined || decodePathSegment(value).toLowerCase() !== part.literal)
            return undefined;
          continue;
        }
        if (part.catchAll) {
          if (given.length > i) params[part.name] = given.slice(i).map(decodePathSegment).join('/');
          return params;
        }
        if (value === undefined) {
          if (!part.optional) return undefined;
          continue;
        }
        const decoded = decodePathSegment(value);
        if (part.constraint && !part.constraint.test(decoded)) return undefined;
        params[part.name] = decoded;
      }
      return given.length <= parts.length ? params : undefined;
    },
  };
}
