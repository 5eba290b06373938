import { isObject } from '../isObject';
import { jsonStringLength, TABLE_STRING_MAX_CHARS } from '../tableLimits';
import { accepted, type Bad } from './fieldChecks';
import type { ScoringProbeSpec } from './ManagedEndpoint';

/** The probe used when none is given: POST `{}` to the scoring URI; any status but 401/403 proves the key. */
export const DEFAULT_PROBE: ScoringProbeSpec = {
  method: 'POST',
  path: '',
  body: '{}',
  acceptedStatuses: [200, 400, 404, 415, 422, 424],
};

/**
 * The registry stores a whole endpoint as JSON in one Table storage property (`TableEndpointRegistry`),
 * which holds TABLE_STRING_MAX_CHARS (32,768) characters. Every field but the probe's is short by its
 * pattern or is written by the app (under 1,200 characters together, property names included); the
 * path takes at most 6 × 2,000 once JSON-escaped (a control character becomes `\u00XX`) and the
 * statuses 100 × 4. The body is counted as stored, escaped, and gets 16,384 of the 19,000 or more left,
 * so the largest endpoint accepted fits (test/integration/endpoints.tableRegistry.test.ts stores it).
 */
const MAX_PROBE_PATH = 2000;
const MAX_PROBE_STATUSES = 100;
export const MAX_PROBE_BODY_STORED = 16 * 1024;

const PROBE_FIELDS = new Set(['method', 'path', 'body', 'acceptedStatuses']);

/** The probe of `raw`, the default when it is left out; undefined once a bad field was reported. */
export function validateProbe(raw: unknown, bad: Bad): ScoringProbeSpec | undefined {
  if (raw === undefined) return DEFAULT_PROBE;
  if (!isObject(raw)) {
    bad('probe', 'an object with method, path, body and acceptedStatuses');
    return undefined;
  }
  for (const key of Object.keys(raw)) if (!PROBE_FIELDS.has(key)) bad(`probe.${key}`, 'is not a known field');
  const method = accepted(
    raw.method ?? DEFAULT_PROBE.method,
    isProbeMethod,
    'probe.method',
    'POST or GET',
    bad,
  );
  const path = accepted(
    raw.path ?? DEFAULT_PROBE.path,
    isProbePath,
    'probe.path',
    `empty, or a path starting with / or ? (up to ${MAX_PROBE_PATH} characters)`,
    bad,
  );
  const body = probeBodyText(raw.body);
  if (body === undefined)
    bad('probe.body', 'a string, or JSON nested shallowly enough to be written out (send it as a string)');
  else if (jsonStringLength(body) > MAX_PROBE_BODY_STORED)
    bad(
      'probe.body',
      `at most ${MAX_PROBE_BODY_STORED} characters as stored (JSON-escaped: a quote, backslash or line break counts 2, another control character 6), so the endpoint fits one Table storage property (${TABLE_STRING_MAX_CHARS} characters)`,
    );
  const acceptedStatuses = accepted(
    raw.acceptedStatuses ?? DEFAULT_PROBE.acceptedStatuses,
    isAcceptedStatuses,
    'probe.acceptedStatuses',
    `a list of 1-${MAX_PROBE_STATUSES} HTTP statuses (200-599, not 401 or 403)`,
    bad,
  );
  if (method === undefined || path === undefined || body === undefined || acceptedStatuses === undefined)
    return undefined;
  return { method, path, body, acceptedStatuses };
}

/**
 * The probe body as sent: a string as is, any other JSON value written out. JSON nested a few thousand
 * deep (30 KB fits the request cap) is parsed but overflows the stack when written out again, so it is
 * undefined here and refused, rather than a RangeError answered with a 500.
 */
function probeBodyText(raw: unknown): string | undefined {
  if (raw === undefined) return DEFAULT_PROBE.body;
  if (typeof raw === 'string') return raw;
  try {
    return JSON.stringify(raw);
  } catch {
    return undefined;
  }
}

function isProbeMethod(value: unknown): value is ScoringProbeSpec['method'] {
  return value === 'POST' || value === 'GET';
}

function isProbePath(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_PROBE_PATH && (value === '' || /^[/?]/.test(value));
}

function isAcceptedStatuses(value: unknown): value is readonly number[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.length <= MAX_PROBE_STATUSES &&
    value.every((s) => Number.isInteger(s) && s >= 200 && s <= 599 && s !== 401 && s !== 403)
  );
}
