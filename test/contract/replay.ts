import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { call } from '../support/emulators';

/** One recorded exchange (test-proxy layout, see test/fixtures/azure/SOURCES.md). */
export interface RecordedEntry {
  RequestUri: string;
  RequestMethod: string;
  RequestHeaders: Record<string, string>;
  RequestBody: unknown;
  StatusCode: number;
  ResponseHeaders: Record<string, string>;
  ResponseBody: unknown;
}

/** What the emulator answered. */
export interface Actual {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

const FIXTURES = join(__dirname, '..', 'fixtures', 'azure');

/** Reads a fixture file. */
export function fixture<T>(relative: string): T {
  return JSON.parse(readFileSync(join(FIXTURES, relative), 'utf8')) as T;
}

/** Field names whose primitive values must equal the recording (after URL/id mapping). */
export const EXACT = new Set([
  'code',
  'message',
  'enabled',
  'nbf',
  'exp',
  'recoveryLevel',
  'recoverableDays',
  'contentType',
  'token_type',
  'resource',
  'tokenType',
  'status',
  'authMode',
  'provisioningState',
  'kind',
  'type',
  'percentComplete',
  'scaleType',
  'endpointComputeType',
  'value',
]);

/** Options of {@link shapeMismatches}. */
export interface ShapeOptions {
  /** Paths (`a.b`, `value[].c`) holding dictionaries: only value types are compared. */
  dictionaries?: ReadonlySet<string>;
  /** Paths present in the recording that the emulator does not emit (documented schema options). */
  optional?: ReadonlySet<string>;
  /** Arrays must have the recorded length. */
  sameLength?: boolean;
  /** Maps recorded strings (urls, ids) to the emulator's before exact comparison. */
  map?: (recorded: string) => string;
  /** Field names compared by value (default {@link EXACT}; REST-spec examples hold placeholders, so they pass fewer). */
  exact?: ReadonlySet<string>;
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Differences between a recorded body and the emulator's: every recorded field present with the same type; EXACT fields equal. */
export function shapeMismatches(
  recorded: unknown,
  actual: unknown,
  options: ShapeOptions = {},
  path = '',
  key = '',
): string[] {
  const where = path || '(root)';
  if (recorded === null)
    return actual === null || typeof actual === 'string'
      ? []
      : [`${where}: recorded null, got ${kind(actual)}`];
  // Nullable strings (e.g. `description`): REST-spec examples show "string" where the service sends null.
  if (typeof recorded === 'string' && actual === null) return [];
  if (kind(recorded) !== kind(actual)) return [`${where}: recorded ${kind(recorded)}, got ${kind(actual)}`];
  if (Array.isArray(recorded) && Array.isArray(actual)) {
    if (options.sameLength && recorded.length !== actual.length)
      return [`${where}: recorded ${recorded.length} items, got ${actual.length}`];
    if (recorded.length > 0 && actual.length === 0) return [`${where}: recorded items, got none`];
    return actual.flatMap((item, i) =>
      shapeMismatches(recorded[Math.min(i, recorded.length - 1)], item, options, `${path}[]`),
    );
  }
  if (typeof recorded === 'object' && recorded !== null) {
    const r = recorded as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    if (key === 'tags') return JSON.stringify(r) === JSON.stringify(a) ? [] : [`${where}: tags differ`];
    if (options.dictionaries?.has(path)) {
      const sample = Object.values(r)[0];
      return sample === undefined
        ? []
        : Object.entries(a).flatMap(([k, v]) =>
            kind(v) === kind(sample) ? [] : [`${path}.${k}: dictionary value type`],
          );
    }
    return Object.keys(r).flatMap((k) => {
      const p = path ? `${path}.${k}` : k;
      if (!(k in a)) return options.optional?.has(p) ? [] : [`${p}: missing`];
      return shapeMismatches(r[k], a[k], options, p, k);
    });
  }
  if ((options.exact ?? EXACT).has(key) && typeof recorded !== 'object') {
    const expected = typeof recorded === 'string' && options.map ? options.map(recorded) : recorded;
    return expected === actual
      ? []
      : [`${where}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
  }
  return [];
}

/** Response headers that matter to clients: same media type, challenge form, LRO headers present. */
export function headerMismatches(recorded: Record<string, string>, actual: Headers): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(recorded)) {
    const lower = name.toLowerCase();
    const got = actual.get(lower);
    // Same media type; the charset too when the recording states one (doc transcriptions omit it).
    const norm = (v: string | null | undefined): string => (v ?? '').replace(/\s/g, '').toLowerCase();
    if (
      lower === 'content-type' &&
      (value.includes(';') ? norm(got) !== norm(value) : norm(got).split(';')[0] !== norm(value))
    )
      problems.push(`content-type ${got ?? '-'}`);
    if (lower === 'www-authenticate') {
      const form = (v: string): string =>
        v.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<tenant>');
      if (!got || form(got) !== form(value)) problems.push(`www-authenticate ${got ?? '-'}`);
    }
    if (
      [
        'azure-asyncoperation',
        'location',
        'x-ms-async-operation-timeout',
        'retry-after',
        'azureml-model-deployment',
      ].includes(lower)
    ) {
      if (!got) problems.push(`${lower} missing`);
      for (const marker of ['mfeOperationsStatus', 'mfeOperationResults', 'onlineEndpoints']) {
        if (value.includes(marker) && !got?.includes(marker))
          problems.push(`${lower} does not point at ${marker}`);
      }
    }
  }
  return problems;
}

/**
 * Replays recorded requests against the emulator, rewriting recorded hosts, ids, versions, LRO
 * URLs and nextLinks to the emulator's, learnt from the responses as the replay goes.
 */
export class Replayer {
  private readonly learnt = new Map<string, string>();

  constructor(
    private readonly hosts: Record<string, string>,
    private readonly authorization: (entry: RecordedEntry, url: string) => string | undefined,
  ) {}

  /** Recorded string → emulator string (urls and ids learnt so far, then hosts). */
  map = (recorded: string): string => {
    const plain = recorded.replace(/:443(?=\/)/, '');
    const known = this.learnt.get(plain);
    if (known) return known;
    let out = plain;
    for (const [from, to] of Object.entries(this.hosts))
      if (out.startsWith(from)) out = to + out.slice(from.length);
    for (const [from, to] of this.learnt) if (/^[0-9a-f]{32}$/.test(from)) out = out.split(from).join(to);
    return out;
  };

  /** Sends one recorded request and learns the ids and URLs in the answer. */
  async send(entry: RecordedEntry, headers: Record<string, string> = {}): Promise<Actual> {
    const url = this.map(entry.RequestUri);
    const auth = this.authorization(entry, url);
    const body =
      entry.RequestBody === null || entry.RequestBody === undefined
        ? undefined
        : JSON.stringify(entry.RequestBody);
    const actual = await call(url, {
      method: entry.RequestMethod,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(auth ? { authorization: auth } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body } : {}),
    });
    this.learn(entry, actual);
    return actual;
  }

  private learn(entry: RecordedEntry, actual: Actual): void {
    for (const name of ['Azure-AsyncOperation', 'Location']) {
      const recorded = entry.ResponseHeaders[name];
      const got = actual.headers.get(name);
      if (recorded && got) this.learnt.set(recorded.replace(/:443(?=\/)/, ''), got);
    }
    const walk = (r: unknown, a: unknown, key: string): void => {
      if (
        typeof r === 'string' &&
        typeof a === 'string' &&
        ['id', 'nextLink', 'scoringUri', 'swaggerUri', 'recoveryId'].includes(key)
      ) {
        this.learnt.set(r.replace(/:443(?=\/)/, ''), a);
        const rv = /\/secrets\/[^/]+\/([0-9a-f]{32})$/.exec(r)?.[1];
        const av = /\/secrets\/[^/]+\/([0-9a-f]{32})$/.exec(a)?.[1];
        if (rv && av && !Array.isArray(r)) this.learnt.set(rv, av);
      } else if (
        r &&
        a &&
        typeof r === 'object' &&
        typeof a === 'object' &&
        !Array.isArray(r) &&
        !Array.isArray(a)
      ) {
        for (const [k, v] of Object.entries(r)) walk(v, (a as Record<string, unknown>)[k], k);
      }
    };
    walk(entry.ResponseBody, actual.json, '');
  }
}
