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

/**
 * Percent-decodes one path segment as UTF-8; a segment that is not well-formed percent-encoded UTF-8
 * (`%zz`, a stray `%`, `%FF`) is handed over as sent. `decodeURIComponent` throws there, which made the
 * local host answer an empty 500, where the real host (Kestrel's `UrlDecoder`) keeps the malformed
 * escapes and the function answers its own 4xx. (Kestrel also decodes the well-formed escapes beside
 * them, and leaves `%2F` encoded; no route of the app tells the difference.)
 */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
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
