import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';
import fc from 'fast-check';

/** The invocation context fuzzed handlers run in: its log lines are dropped (thousands of runs). */
export const fuzzContext = new InvocationContext({ invocationId: 'fuzz', logHandler: () => undefined });

/** Short strings of printable ASCII, punctuation included (ids, headers, query values). */
export const printable = fc.string({
  unit: fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZabcxyz[]^_`{|}~'.split('')),
  maxLength: 80,
});

/** Any text, control characters and lone surrogates included. */
export const anyText = fc.string({ unit: 'binary', maxLength: 300 });

/** A JSON value of any shape, for a field whose type the fuzz run should get wrong. */
const anyJson = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  printable,
  fc.constantFrom(null, true, -1, 0, 1e300, '', ' ', '2026-13-45T99:00:00Z', '../x', 'x'.repeat(300)),
);

type Json = Record<string, unknown>;
type Mutation = { drop: string } | { set: string; value: unknown };

/** Every path to a field of `value`, nested objects included (`arm.workspace`). */
function paths(value: Json, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, inner]) => {
    const path = `${prefix}${key}`;
    const isObject = typeof inner === 'object' && inner !== null && !Array.isArray(inner);
    return isObject ? [path, ...paths(inner as Json, `${path}.`)] : [path];
  });
}

function apply(valid: Json, mutations: readonly Mutation[]): Json {
  const copy = structuredClone(valid);
  for (const mutation of mutations) {
    const path = 'drop' in mutation ? mutation.drop : mutation.set;
    const keys = path.split('.');
    let parent: Json | undefined = copy;
    for (const key of keys.slice(0, -1)) {
      const next: unknown = parent?.[key];
      // An earlier mutation replaced or dropped this object: the nested field is gone with it.
      parent = typeof next === 'object' && next !== null && !Array.isArray(next) ? (next as Json) : undefined;
    }
    const last = keys[keys.length - 1] as string;
    if (parent === undefined) continue;
    if ('drop' in mutation) delete parent[last];
    else parent[last] = mutation.value;
  }
  return copy;
}

/**
 * JSON bodies near a valid one: up to three of its fields (nested ones too) dropped, given a value of
 * another type or an odd value, or an unknown field added. Mostly-valid input reaches the checks that
 * follow parsing, which random text never does.
 */
export function nearValid(valid: Json): fc.Arbitrary<Json> {
  const fields = [...paths(valid), 'unknownField'];
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.constantFrom(...fields).map((drop) => ({ drop })),
    fc.record({ set: fc.constantFrom(...fields), value: anyJson }),
  );
  return fc.array(mutation, { maxLength: 3 }).map((mutations) => apply(valid, mutations));
}

/** A request body: `near` most of the time, else JSON of another shape or text that is not JSON. */
export function orMalformed(near: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: near },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: anyText },
  );
}

/** A request body near the valid one ({@link nearValid}), or malformed. */
export function jsonBody(valid: Json): fc.Arbitrary<string> {
  return orMalformed(nearValid(valid).map((value) => JSON.stringify(value)));
}

/** Builds a request; undefined when the library itself refuses the input (not our code's concern). */
export function fuzzRequest(init: ConstructorParameters<typeof HttpRequest>[0]): HttpRequest | undefined {
  try {
    return new HttpRequest(init);
  } catch {
    return undefined;
  }
}

/**
 * A request to an admin route with fuzzed route parameters and, when given, a fuzzed JSON body. Unlike
 * {@link fuzzRequest} it cannot be refused by the library: URL, method and headers are fixed.
 */
export function routeRequest(method: string, params: Record<string, string>, body?: string): HttpRequest {
  return new HttpRequest({
    method,
    url: 'http://localhost/api/fuzzed',
    headers: { 'content-type': 'application/json' },
    params,
    ...(body !== undefined ? { body: { string: body } } : {}),
  });
}

/**
 * Fails unless the response is what a caller's mistake deserves: below 500, and every 4xx an
 * `application/problem+json` body whose `status` matches and whose `code` is stable, with no stack trace.
 */
export function expectClientErrorShape(response: HttpResponseInit): void {
  const status = response.status ?? 200;
  expect(status).toBeLessThan(500);
  if (status < 400) return;
  const headers = response.headers as Record<string, string>;
  expect(headers['content-type']).toBe('application/problem+json');
  expect(typeof response.body).toBe('string');
  const text = response.body as string;
  const body = JSON.parse(text) as { status?: unknown; code?: unknown };
  expect(body.status).toBe(status);
  expect(body.code).toMatch(/^[A-Za-z_]+$/);
  expect(text).not.toMatch(/\n\s+at /);
}

/**
 * Sends one fuzzed write and checks its answer with {@link expectClientErrorShape}; when it is refused,
 * `state()` must read as before: nothing half-written. Returns the response.
 */
export async function expectCleanAnswer<R extends HttpResponseInit>(
  state: () => string,
  send: () => Promise<R>,
): Promise<R> {
  const before = state();
  const response = await send();
  expectClientErrorShape(response);
  if ((response.status ?? 200) >= 400) expect(state()).toBe(before);
  return response;
}

/** An admin route handler, as the function files export it. */
type RouteHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/**
 * 300 fuzzed `POST` bodies to a create route, each answered cleanly ({@link expectCleanAnswer}); a
 * create that succeeded is undone with `undo(body)`, so the next run's id is free again.
 */
export async function expectCleanCreates(
  bodies: fc.Arbitrary<string>,
  create: RouteHandler,
  state: () => string,
  undo: (created: unknown) => Promise<void>,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(bodies, async (body) => {
      const req = routeRequest('POST', {}, body);
      const response = await expectCleanAnswer(state, () => create(req, fuzzContext));
      if ((response.status ?? 200) < 400) await undo(response.jsonBody);
    }),
    { numRuns: 300 },
  );
}

/** 300 fuzzed `PATCH` bodies to fuzzed ids of an update route, each answered cleanly ({@link expectCleanAnswer}). */
export async function expectCleanUpdates(
  ids: fc.Arbitrary<string>,
  bodies: fc.Arbitrary<string>,
  update: RouteHandler,
  state: () => string,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(ids, bodies, async (id, body) => {
      const req = routeRequest('PATCH', { id }, body);
      await expectCleanAnswer(state, () => update(req, fuzzContext));
    }),
    { numRuns: 300 },
  );
}
