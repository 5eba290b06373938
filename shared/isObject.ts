/** True for a JSON object: not null and not an array, which `typeof` alone calls objects too. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
