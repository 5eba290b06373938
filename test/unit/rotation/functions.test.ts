import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';

import { manageEndpointHandler } from '../../../functions/manageEndpoint';
import { manageEndpointRotateHandler } from '../../../functions/manageEndpointRotate';
import { manageEndpointsHandler } from '../../../functions/manageEndpoints';
import { rotationTimerHandler } from '../../../functions/rotationTimer';
import { rotationWorkerHandler } from '../../../functions/rotationWorker';
import { KeyNotAcceptedError } from '../../../shared/rotation/errors';
import { buildRotationFixture, type RotationFixture } from '../../fakes/rotation/buildRotationFixture';

const arm = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'demo-key' };

function request(
  method: string,
  path: string,
  body?: unknown,
  params: Record<string, string> = {},
): HttpRequest {
  return new HttpRequest({
    method,
    url: `http://localhost:7071/api/${path}`,
    headers: { 'content-type': 'application/json' },
    params,
    ...(body !== undefined ? { body: { string: JSON.stringify(body) } } : {}),
  });
}

const context = (triggerMetadata: Record<string, unknown> = {}) =>
  new InvocationContext({ invocationId: 'inv-1', triggerMetadata, logHandler: () => undefined });

function json(response: HttpResponseInit): Record<string, unknown> {
  return (
    (response.jsonBody as Record<string, unknown> | undefined) ??
    (JSON.parse(typeof response.body === 'string' ? response.body : '{}') as Record<string, unknown>)
  );
}

describe('Functions: manage/endpoints', () => {
  let f: RotationFixture;
  beforeEach(() => {
    f = buildRotationFixture();
  });

  it('registers (201), lists, shows status, updates, rotates now (202) and removes (204)', async () => {
    // Prepare
    const collection = manageEndpointsHandler(() => f.services);
    const item = manageEndpointHandler(() => f.services);
    const rotate = manageEndpointRotateHandler(() => f.services);
    const params = { id: 'demo-key' };

    // Act
    const created = await collection(request('POST', 'manage/endpoints', { id: 'demo-key', arm }), context());
    const listed = await collection(request('GET', 'manage/endpoints'), context());
    const status = await item(request('GET', 'manage/endpoints/demo-key', undefined, params), context());
    const patched = await item(
      request('PATCH', 'manage/endpoints/demo-key', { rotationPeriodHours: 48 }, params),
      context(),
    );
    const rotated = await rotate(
      request('POST', 'manage/endpoints/demo-key/rotate', undefined, params),
      context(),
    );
    const removed = await item(request('DELETE', 'manage/endpoints/demo-key', undefined, params), context());
    const gone = await item(request('GET', 'manage/endpoints/demo-key', undefined, params), context());

    // Assess
    expect(created.status).toBe(201);
    expect((json(listed).value as unknown[]).length).toBe(1);
    expect(status.status).toBe(200);
    expect(json(patched).rotationPeriodHours).toBe(48);
    expect(rotated.status).toBe(202);
    expect(f.jobs.jobs).toHaveLength(1);
    expect(removed.status).toBe(204);
    expect(gone.status).toBe(404);
    expect(json(gone).code).toBe('ENDPOINT_NOT_FOUND');
  });

  it('lists a page at a time: $top endpoints and a nextLink, followed to the last page, each endpoint once', async () => {
    // Prepare: 25 endpoints; storage answering 3 at most, as Table storage may while rows are left
    const ids = Array.from({ length: 25 }, (_, i) => `ep-${String(24 - i).padStart(2, '0')}`);
    for (const id of ids) f.addEndpoint({ id });
    f.registry.serverPageLimit = 3;
    const list = manageEndpointsHandler(() => f.services);

    // Act
    const pages: Array<Record<string, unknown>> = [];
    let next: string | undefined = 'http://localhost:7071/api/manage/endpoints?$top=10';
    while (next !== undefined && pages.length < 50) {
      const response = await list(new HttpRequest({ method: 'GET', url: next }), context());
      expect(response.status).toBe(200);
      pages.push(json(response));
      next = json(response).nextLink as string | undefined;
    }
    const firstDefault = json(await list(request('GET', 'manage/endpoints'), context()));

    // Assess
    const seen = pages.flatMap((p) => (p.value as Array<{ id: string }>).map((e) => e.id));
    expect(seen).toEqual([...ids].sort());
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.at(-1)).not.toHaveProperty('nextLink');
    expect(pages[0]!.nextLink).toMatch(
      /^http:\/\/localhost:7071\/api\/manage\/endpoints\?\$top=10&\$skipToken=[\w-]+$/,
    );
    expect(firstDefault.value).toHaveLength(3);
    expect(firstDefault.nextLink).toContain('$top=100&');
  });

  it('names the registrations a page skipped as unreadable, with what a GET of each answers, and still links the next page', async () => {
    // Prepare: ep-01..ep-07, three of them edited by hand; pages of 2 rows, so one page reads only those
    for (const id of ['ep-01', 'ep-02', 'ep-05', 'ep-07']) f.addEndpoint({ id });
    f.registry.unreadable.set('ep-03', { why: 'its endpoint column is not JSON' });
    f.registry.unreadable.set('ep-04', { why: 'its endpoint column has no valid arm' });
    f.registry.unreadable.set('ep-06', { why: 'the row has no endpoint column' });
    const list = manageEndpointsHandler(() => f.services);
    const item = manageEndpointHandler(() => f.services);

    // Act
    const pages: Array<Record<string, unknown>> = [];
    let next: string | undefined = 'http://localhost:7071/api/manage/endpoints?$top=2';
    while (next !== undefined && pages.length < 20) {
      const response = await list(new HttpRequest({ method: 'GET', url: next }), context());
      expect(response.status).toBe(200);
      pages.push(json(response));
      next = json(response).nextLink as string | undefined;
    }
    const read = await item(request('GET', 'manage/endpoints/ep-04', undefined, { id: 'ep-04' }), context());

    // Assess: value holds endpoints only; each skipped row is named once, in key order, in its own page
    const ids = (p: Record<string, unknown>) => (p.value as Array<{ id: string }>).map((e) => e.id);
    expect(pages.map(ids)).toEqual([['ep-01', 'ep-02'], [], ['ep-05'], ['ep-07']]);
    expect(pages.map((p) => p.unreadable)).toEqual([
      undefined,
      [
        {
          id: 'ep-03',
          code: 'ENDPOINT_RECORD_UNREADABLE',
          message: expect.stringContaining('not JSON') as unknown,
        },
        { id: 'ep-04', code: 'ENDPOINT_RECORD_UNREADABLE', message: json(read).detail },
      ],
      [
        {
          id: 'ep-06',
          code: 'ENDPOINT_RECORD_UNREADABLE',
          message: expect.stringContaining('no endpoint column') as unknown,
        },
      ],
      undefined,
    ]);
    // A page of skipped rows only still links the next page: only a page without nextLink is the last.
    expect(pages.map((p) => 'nextLink' in p)).toEqual([true, true, true, false]);
    expect(pages[0]).not.toHaveProperty('unreadable');
    expect(read.status).toBe(409);
  });

  it('answers a bad $top or $skipToken with 400 problem details naming the parameter, never a 500', async () => {
    // Prepare
    f.addEndpoint({ id: 'ep-01' });
    f.addEndpoint({ id: 'ep-02' });
    f.registry.serverPageLimit = 1;
    const list = manageEndpointsHandler(() => f.services);
    const first = json(await list(request('GET', 'manage/endpoints'), context()));
    const token = new URL(first.nextLink as string).searchParams.get('$skipToken')!;
    const clientsToken = Buffer.from(JSON.stringify({ v: 1, list: 'clients', after: 'ep-01' })).toString(
      'base64url',
    );

    // Act
    const answers = await Promise.all(
      [
        ['$top', '?$top=5000'],
        ['$top', '?$top=abc'],
        ['$skipToken', `?$skipToken=${token.slice(0, -2)}`],
        ['$skipToken', `?$skipToken=${token}x`],
        ['$skipToken', `?$skipToken=${clientsToken}`],
        ['$skipToken', '?$skipToken=%00'],
      ].map(async ([field, query]) => ({
        field,
        response: await list(request('GET', `manage/endpoints${query}`), context()),
      })),
    );

    // Assess
    for (const { field, response } of answers) {
      expect(response.status).toBe(400);
      expect((response.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
      expect(json(response)).toMatchObject({ code: 'ValidationFailed', errors: [{ field }] });
    }
  });

  it('answers a registration and a rotation with a Location that resolves to the endpoint under /api', async () => {
    // Prepare
    const params = { id: 'demo-key' };
    const registration = request('POST', 'manage/endpoints', { id: 'demo-key', arm });
    const rotation = request('POST', 'manage/endpoints/demo-key/rotate', undefined, params);

    // Act
    const created = await manageEndpointsHandler(() => f.services)(registration, context());
    const rotated = await manageEndpointRotateHandler(() => f.services)(rotation, context());

    // Assess: a client resolves Location against the URL it called
    const resolved = (response: HttpResponseInit, called: HttpRequest): string =>
      new URL((response.headers as Record<string, string>)['location'] ?? '', called.url).pathname;
    expect(resolved(created, registration)).toBe('/api/manage/endpoints/demo-key');
    expect(resolved(rotated, rotation)).toBe('/api/manage/endpoints/demo-key');
  });

  it('answers 400 problem+json naming each invalid field', async () => {
    // Act
    const response = await manageEndpointsHandler(() => f.services)(
      request('POST', 'manage/endpoints', { id: 'X', arm: { ...arm, workspace: '!' }, gracePeriodHours: 1 }),
      context(),
    );

    // Assess
    expect(response.status).toBe(400);
    expect((response.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
    const fields = (json(response).errors as Array<{ field: string }>).map((e) => e.field).sort();
    expect(fields).toEqual(['arm.workspace', 'gracePeriodHours', 'id']);
  });

  it('answers 409 problem+json naming the registration that has the endpoint to a second one of it, whatever the case', async () => {
    // Prepare
    const collection = manageEndpointsHandler(() => f.services);
    await collection(request('POST', 'manage/endpoints', { id: 'demo-key', arm }), context());

    // Act
    const again = await collection(
      request('POST', 'manage/endpoints', {
        id: 'demo-key-again',
        arm: { ...arm, workspace: 'WS1', name: 'Demo-Key' },
      }),
      context(),
    );

    // Assess: two registrations would rotate one endpoint's keys against each other
    expect(again.status).toBe(409);
    expect((again.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
    expect(json(again)).toMatchObject({
      code: 'ENDPOINT_ALREADY_REGISTERED',
      detail:
        'The onlineEndpoint Demo-Key of workspace WS1 (resource group rg, subscription sub-1) is already ' +
        'registered as endpoint demo-key.',
    });
    expect([...f.registry.endpoints.keys()]).toEqual(['demo-key']);
  });

  it('answers 400 naming arm to a PATCH whose arm is not an object, as to such a POST', async () => {
    // Prepare
    f.addEndpoint();
    const params = { id: 'demo-key' };

    // Act
    const patched = await manageEndpointHandler(() => f.services)(
      request('PATCH', 'manage/endpoints/demo-key', { arm: 'x' }, params),
      context(),
    );
    const posted = await manageEndpointsHandler(() => f.services)(
      request('POST', 'manage/endpoints', { id: 'other-one', arm: 'x' }),
      context(),
    );

    // Assess
    for (const response of [patched, posted]) {
      expect(response.status).toBe(400);
      expect((json(response).errors as Array<{ field: string }>).map((e) => e.field)).toEqual(['arm']);
    }
  });

  it('answers 400 naming probe.body to a probe body nested too deeply to store, not a 500', async () => {
    // Prepare: 30 KB of nested objects as the probe body, well under the 64 KB body cap
    f.addEndpoint();
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const text = (fields: Record<string, unknown>): string =>
      JSON.stringify({ ...fields, probe: { body: 'DEEP' } }).replace('"DEEP"', deep);
    const raw = (method: string, body: string, params: Record<string, string> = {}): HttpRequest =>
      new HttpRequest({
        method,
        url: 'http://localhost:7071/api/manage/endpoints',
        params,
        body: { string: body },
      });

    // Act
    const posted = await manageEndpointsHandler(() => f.services)(
      raw('POST', text({ id: 'deep-one', arm })),
      context(),
    );
    const patched = await manageEndpointHandler(() => f.services)(
      raw('PATCH', text({}), { id: 'demo-key' }),
      context(),
    );

    // Assess
    for (const response of [posted, patched]) {
      expect(response.status).toBe(400);
      expect((json(response).errors as Array<{ field: string }>).map((e) => e.field)).toEqual(['probe.body']);
    }
  });

  it('answers 404 to an id no endpoint can have, showing at most 64 characters of it', async () => {
    // Prepare
    const item = manageEndpointHandler(() => f.services);
    const rotate = manageEndpointRotateHandler(() => f.services);
    const long = { id: `${'x'.repeat(1999)}y` };

    // Act
    const responses = [
      await item(request('GET', 'manage/endpoints/x', undefined, long), context()),
      await item(request('PATCH', 'manage/endpoints/x', { enabled: false }, long), context()),
      await item(request('DELETE', 'manage/endpoints/x', undefined, long), context()),
      await rotate(request('POST', 'manage/endpoints/x/rotate', undefined, long), context()),
      await item(request('GET', 'manage/endpoints/a%2Fb', undefined, { id: 'a/b' }), context()),
    ];

    // Assess
    for (const response of responses) {
      expect(response.status).toBe(404);
      expect(json(response).code).toBe('ENDPOINT_NOT_FOUND');
      expect(JSON.stringify(json(response))).not.toContain('x'.repeat(65));
    }
  });

  it('answers 422 when rotating an endpoint without keys', async () => {
    f.addEndpoint({ id: 'token-one', authMode: 'AMLToken' });
    const response = await manageEndpointRotateHandler(() => f.services)(
      request('POST', 'manage/endpoints/token-one/rotate', undefined, { id: 'token-one' }),
      context(),
    );
    expect(response.status).toBe(422);
    expect(json(response).code).toBe('AUTH_MODE_NOT_KEY');
  });
});

describe('Functions: rotationTimer and rotationWorker', () => {
  it('the timer enqueues due endpoints and the worker rotates from the message', async () => {
    // Prepare
    const f = buildRotationFixture();
    f.addEndpoint();

    // Act
    await rotationTimerHandler(() => f.services)(
      { isPastDue: false, scheduleStatus: undefined } as never,
      context(),
    );
    await rotationWorkerHandler(() => f.services)(f.jobs.jobs[0], context({ dequeueCount: 1 }));

    // Assess
    expect(f.jobs.jobs).toHaveLength(1);
    expect(f.keys.regenerations).toHaveLength(1);
  });

  it('the worker throws on failure so the host retries, and journals the poison reason on the last delivery', async () => {
    // Prepare
    const f = buildRotationFixture({ testTimeoutSeconds: 1 });
    f.addEndpoint();
    f.probe.forceStatus = 401;
    const worker = rotationWorkerHandler(() => f.services);
    const message = { endpointId: 'demo-key', reason: 'manual', requestedAt: '2026-01-01T00:00:00Z' };

    // Act
    await expect(worker(message, context({ dequeueCount: 1 }))).rejects.toThrow(KeyNotAcceptedError);
    const afterFirst = (await f.journal.getState('demo-key')).state.lastError?.step;
    await expect(worker(JSON.stringify(message), context({ dequeueCount: 5 }))).rejects.toThrow(
      KeyNotAcceptedError,
    );

    // Assess
    expect(afterFirst).toBe('test');
    const { state } = await f.journal.getState('demo-key');
    expect(state.lastError).toMatchObject({ step: 'poison', code: 'NEW_KEY_NOT_ACCEPTED' });
    expect(state.lastError?.message).toMatch(/after 5 deliveries.*did not accept the new key/);
    expect(f.journal.steps.at(-1)?.step).toBe('poison');
  });

  it('the worker logs why a run did nothing, with when the grace period ends', async () => {
    // Prepare: "rotate now" a day after the first rotation, while the other slot is within grace
    const f = buildRotationFixture();
    f.addEndpoint();
    const worker = rotationWorkerHandler(() => f.services);
    const message = { endpointId: 'demo-key', reason: 'manual', requestedAt: '2026-01-01T00:00:00Z' };
    await worker(message, context());
    f.clock.advanceHours(24);
    const lines: string[] = [];
    const logged = new InvocationContext({
      invocationId: 'inv-2',
      triggerMetadata: { dequeueCount: 1 },
      logHandler: (_level, ...args) => void lines.push(args.join(' ')),
    });

    // Act
    await worker(message, logged);

    // Assess
    expect(lines).toEqual([
      expect.stringMatching(
        /^RotationWorker => run => skipped endpoint=demo-key reason=inGrace \(Primary stopped being current less than 25 h ago \(grace ends 2026-01-02T01:00:00.000Z\)\)$/,
      ),
    ]);
  });

  it('the worker completes a drifted job and logs its code, so the host does not redeliver it', async () => {
    // Prepare: Key Vault holds a value that is neither key of the endpoint
    const f = buildRotationFixture();
    f.addEndpoint();
    const worker = rotationWorkerHandler(() => f.services);
    const message = { endpointId: 'demo-key', reason: 'manual', requestedAt: '2026-01-01T00:00:00Z' };
    await worker(message, context());
    f.secrets.seed('demo-key-secret', 'typed-by-hand');
    f.clock.advanceHours(800);
    const lines: string[] = [];
    const logged = new InvocationContext({
      invocationId: 'inv-2',
      triggerMetadata: { dequeueCount: 1 },
      logHandler: (_level, ...args) => void lines.push(args.join(' ')),
    });

    // Act
    await worker({ ...message, reason: 'schedule' }, logged);

    // Assess
    expect(lines).toEqual([
      "RotationWorker => run => failed endpoint=demo-key code=DRIFT_DETECTED (waits for a person; see the endpoint's status)",
    ]);
  });

  it('the worker moves a malformed message to the poison queue on its first delivery and completes it', async () => {
    // Prepare
    const f = buildRotationFixture();
    const lines: string[] = [];
    const logged = new InvocationContext({
      invocationId: 'inv-1',
      triggerMetadata: { dequeueCount: 1 },
      logHandler: (_level, ...args) => void lines.push(args.join(' ')),
    });

    // Act
    await rotationWorkerHandler(() => f.services)({ reason: 'whenever' }, logged);

    // Assess
    expect(f.poison.texts).toEqual(['{"reason":"whenever"}']);
    expect(lines).toEqual([
      'RotationWorker => run => malformed, moved to rotation-jobs-poison (endpointId: a registered endpoint id; reason: one of schedule, manual, nearExpiry, expired, drift)',
    ]);
  });

  it("the worker's line names the delivered message's id and its copy's on the poison queue", async () => {
    // Prepare: the host's trigger metadata, and a queue that answers the copy's id
    const f = buildRotationFixture();
    f.poison.answersIds = true;
    const lines: string[] = [];
    const logged = new InvocationContext({
      invocationId: 'inv-1',
      triggerMetadata: { dequeueCount: 1, id: 'msg-1' },
      logHandler: (_level, ...args) => void lines.push(args.join(' ')),
    });

    // Act
    await rotationWorkerHandler(() => f.services)('not a job', logged);

    // Assess
    expect(lines).toEqual([
      'RotationWorker => run => malformed, moved to rotation-jobs-poison (message: must be JSON) messageId=msg-1 poisonMessageId=poison-1',
    ]);
  });

  it('the worker rejects a malformed message it could not move, so the host delivers it again', async () => {
    // Prepare
    const f = buildRotationFixture();
    f.poison.down = true;

    // Act / Assess
    await expect(
      rotationWorkerHandler(() => f.services)({ reason: 'whenever' }, context({ dequeueCount: 1 })),
    ).rejects.toThrow('queue unavailable');
  });
});
