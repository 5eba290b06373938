/**
 * Lenient readers for event `data`. Key Vault and Azure ML deliver PascalCase on the wire, docs and
 * older swaggers show camelCase, one documented sample has a stray space in a key (`"ObjectName "`)
 * and in a value, and NBF/EXP arrive as numbers, numeric strings or null. So keys are matched
 * case-insensitively after trimming, strings are trimmed, and times accept all three forms.
 */

/** Returns the value of `name` in `data`, matching keys case-insensitively and ignoring surrounding spaces. */
export function readField(data: Readonly<Record<string, unknown>>, name: string): unknown {
  if (name in data) return data[name];
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(data)) {
    if (key.trim().toLowerCase() === wanted) return value;
  }
  return undefined;
}

/** A trimmed non-empty string (numbers are stringified, e.g. `ModelVersion: 20`), else undefined. */
export function readString(data: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = readField(data, name);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/**
 * Seconds since the epoch (Key Vault NBF/EXP) as a Date: number, numeric string or null/absent
 * (undefined). Anything else (a non-numeric string, an object) is reported as `invalid` so the caller
 * can reject the event instead of guessing.
 */
export function readEpochSeconds(
  data: Readonly<Record<string, unknown>>,
  name: string,
): Date | undefined | 'invalid' {
  const value = readField(data, name);
  if (value === undefined || value === null) return undefined;
  const seconds =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && value.trim() !== ''
        ? Number(value)
        : NaN;
  if (!Number.isFinite(seconds)) return 'invalid';
  return new Date(seconds * 1000);
}
