// The checks a validator of untrusted JSON builds on: each returns the value it checked, narrowed, or
// undefined once it has reported the field as bad, so that the validator builds its result from checked
// values and every bad field is named at once.

/** Reports a bad field with what it must be. */
export type Bad = (field: string, message: string) => void;

/** `value` when it passes `isValid`; else undefined, with `field` reported as bad (`expected` says why). */
export function accepted<T>(
  value: unknown,
  isValid: (value: unknown) => value is T,
  field: string,
  expected: string,
  bad: Bad,
): T | undefined {
  if (isValid(value)) return value;
  bad(field, expected);
  return undefined;
}

/** As {@link accepted}, for a field that may be left out: undefined, then, and not reported. */
export function optional<T>(
  value: unknown,
  isValid: (value: unknown) => value is T,
  field: string,
  expected: string,
  bad: Bad,
): T | undefined {
  return value === undefined ? undefined : accepted(value, isValid, field, expected, bad);
}

/** A check that `value` is a string matching `pattern`, as {@link accepted} takes one. */
export function matching(pattern: RegExp): (value: unknown) => value is string {
  return (value): value is string => typeof value === 'string' && pattern.test(value);
}

/** The message of a field that must be one of `values`. */
export function oneOf(values: readonly string[]): string {
  return `one of ${values.join(', ')}`;
}
