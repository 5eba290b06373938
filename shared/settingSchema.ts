/**
 * A tiny declarative schema for app settings. Each setting knows its name, its documentation and how
 * to parse itself, so `loadConfig` can report every bad setting in one message and the settings table
 * in the README, `local.settings.sample.json` and the Bicep check are all derived from one list.
 */

/** Result of parsing one raw environment value. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

/** Documentation and parser of one setting. */
export interface SettingSpec<T> {
  /** Environment variable / app setting name. */
  readonly name: string;
  /** One line for the settings table. */
  readonly description: string;
  /** Default shown in docs; `undefined` when the setting is required or optional without default. */
  readonly defaultText?: string;
  /** True when the value is a secret (stored as a Key Vault reference in Azure, never logged). */
  readonly secret?: boolean;
  /** True when the app cannot start without it. */
  readonly required: boolean;
  /** Parses the raw value (undefined or empty when unset). */
  parse(raw: string | undefined): ParseResult<T>;
}

type Rule<T> = (value: T) => string | undefined;

function spec<T>(
  name: string,
  description: string,
  convert: (raw: string) => ParseResult<T>,
  options: { default?: T; required?: boolean; secret?: boolean; rules?: Rule<T>[] },
): SettingSpec<T> {
  const required = options.required ?? false;
  return {
    name,
    description,
    required,
    ...(options.default !== undefined ? { defaultText: String(options.default) } : {}),
    ...(options.secret ? { secret: true } : {}),
    parse(raw) {
      const trimmed = raw?.trim();
      if (trimmed === undefined || trimmed === '') {
        if (options.default !== undefined) return { ok: true, value: options.default };
        if (required) return { ok: false, message: `is required (${description})` };
        return { ok: true, value: undefined as T };
      }
      if (/^<.*>$/s.test(trimmed)) {
        return {
          ok: false,
          message: 'still holds the placeholder from local.settings.sample.json; set a value or remove it',
        };
      }
      // App Service passes a Key Vault (or App Configuration) reference it could not resolve through as
      // its own text, which would pass most rules (the pepper's 32 characters included) and silently
      // become the value.
      if (/^@Microsoft\.KeyVault\(/i.test(trimmed)) {
        return {
          ok: false,
          message:
            "is a Key Vault reference the platform did not resolve: give the app's identity a role that reads the secret (Key Vault Secrets User or Officer), check that the secret exists, then restart the app",
        };
      }
      if (/^@Microsoft\.AppConfiguration\(/i.test(trimmed)) {
        return {
          ok: false,
          message:
            "is an App Configuration reference the platform did not resolve: give the app's identity the App Configuration Data Reader role on the store, check that the key exists, then restart the app",
        };
      }
      const converted = convert(trimmed);
      if (!converted.ok) return converted;
      for (const rule of options.rules ?? []) {
        const problem = rule(converted.value);
        if (problem) return { ok: false, message: problem };
      }
      return converted;
    },
  };
}

/** A free-form string. */
export function stringSetting(
  name: string,
  description: string,
  options: {
    default?: string;
    required?: boolean;
    secret?: boolean;
    pattern?: RegExp;
    patternText?: string;
    /** Checked after the pattern: says what is wrong with the value, or nothing. */
    check?: Rule<string>;
  } = {},
): SettingSpec<string> {
  const rules: Rule<string>[] = [];
  if (options.pattern) {
    const pattern = options.pattern;
    rules.push((v) =>
      pattern.test(v) ? undefined : `must be ${options.patternText ?? `like ${String(pattern)}`}`,
    );
  }
  if (options.check) rules.push(options.check);
  return spec(name, description, (raw) => ({ ok: true, value: raw }), { ...options, rules });
}

/** An absolute URL; `https` only unless `allowHttp`; with `pathRefusal`, an origin alone (that message if not). */
export function urlSetting(
  name: string,
  description: string,
  options: { default?: string; required?: boolean; allowHttp?: boolean; pathRefusal?: string } = {},
): SettingSpec<string> {
  return spec(
    name,
    description,
    (raw) => {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return { ok: false, message: `must be an absolute URL, got "${raw}"` };
      }
      const allowed = options.allowHttp ? ['https:', 'http:'] : ['https:'];
      if (!allowed.includes(url.protocol)) {
        return { ok: false, message: `must use ${allowed.join(' or ')}, got "${url.protocol}"` };
      }
      // Settings are shown in errors and support output; a password in one would travel with it.
      if (url.username || url.password)
        return { ok: false, message: 'must not hold a user name or password (the app authenticates itself)' };
      if (url.search || url.hash) return { ok: false, message: 'must have no query string or fragment' };
      if (options.pathRefusal !== undefined && url.pathname !== '/')
        return { ok: false, message: options.pathRefusal };
      // As parsed: "https:vault.azure.net" or a host in capitals would otherwise reach the SDKs as typed.
      return { ok: true, value: `${url.protocol}//${url.host}${url.pathname}`.replace(/\/+$/, '') };
    },
    options,
  );
}

function withinBounds(value: number, bounds: { min?: number; max?: number }): ParseResult<number> {
  if (bounds.min !== undefined && value < bounds.min)
    return { ok: false, message: `must be at least ${bounds.min}, got ${value}` };
  if (bounds.max !== undefined && value > bounds.max)
    return { ok: false, message: `must be at most ${bounds.max}, got ${value}` };
  return { ok: true, value };
}

/** An integer within bounds. */
export function intSetting(
  name: string,
  description: string,
  options: { default?: number; required?: boolean; min?: number; max?: number } = {},
): SettingSpec<number> {
  return spec(
    name,
    description,
    (raw) => {
      if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)))
        return { ok: false, message: `must be a whole number, got "${raw}"` };
      return withinBounds(Number(raw), options);
    },
    options,
  );
}

/** A decimal number within bounds. */
export function numberSetting(
  name: string,
  description: string,
  options: { default?: number; min?: number; max?: number } = {},
): SettingSpec<number> {
  return spec(
    name,
    description,
    (raw) => {
      // Decimal only: Number() would also read "0x10" as 16 and "" as 0.
      const value = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(raw) ? Number(raw) : NaN;
      if (!Number.isFinite(value)) return { ok: false, message: `must be a number, got "${raw}"` };
      return withinBounds(value, options);
    },
    options,
  );
}

/** `true`/`false` (also `1`/`0`, `yes`/`no`). */
export function boolSetting(
  name: string,
  description: string,
  options: { default: boolean },
): SettingSpec<boolean> {
  return spec(
    name,
    description,
    (raw) => {
      const v = raw.toLowerCase();
      if (['true', '1', 'yes'].includes(v)) return { ok: true, value: true };
      if (['false', '0', 'no'].includes(v)) return { ok: true, value: false };
      return { ok: false, message: `must be true or false, got "${raw}"` };
    },
    options,
  );
}

/**
 * Milliseconds of a .NET TimeSpan as the Functions host reads one from host.json or an app setting:
 * `hh:mm:ss`, `d.hh:mm:ss` beyond a day, seconds with an optional fraction (hours below 24, minutes and
 * seconds below 60, as .NET requires); undefined for any other text.
 */
export function timeSpanMs(text: string): number | undefined {
  const m = /^(?:(\d{1,8})\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/.exec(text);
  if (!m) return undefined;
  const [d, h, min, s] = m.slice(1, 5).map((part) => Number(part ?? 0)) as [number, number, number, number];
  if (h > 23 || min > 59 || s > 59) return undefined;
  return (((d * 24 + h) * 60 + min) * 60 + s) * 1000 + Math.round(Number(`0.${m[5] ?? '0'}`) * 1000);
}

/**
 * A duration the Functions host reads (a .NET TimeSpan, see {@link timeSpanMs}) in milliseconds, of at
 * least `min` (written the same way); `-1`, the host's "no limit", is `Infinity`.
 */
export function timeSpanSetting(
  name: string,
  description: string,
  options: { min: string },
): SettingSpec<number | undefined> {
  const minMs = timeSpanMs(options.min) ?? 0;
  return spec<number | undefined>(
    name,
    description,
    (raw) => {
      if (raw === '-1') return { ok: true, value: Infinity };
      const ms = timeSpanMs(raw);
      if (ms === undefined)
        return {
          ok: false,
          message: `must be a duration hh:mm:ss (d.hh:mm:ss beyond a day), or -1 for no limit, got "${raw}"`,
        };
      if (ms < minMs) return { ok: false, message: `must be at least ${options.min}, got ${raw}` };
      return { ok: true, value: ms };
    },
    {},
  );
}
