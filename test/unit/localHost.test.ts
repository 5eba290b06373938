import { connect } from 'node:net';
import { join } from 'node:path';

import { startFunctionsHost } from '../../local/host/FunctionsHost';
import { compileRoute, decodePathSegment } from '../../local/host/routes';

const app = join(__dirname, '..', 'fixtures', 'functions-app');
const masterKey = 'master-key-for-tests';
const defaultKey = 'default-key-for-tests';

describe('Function: startFunctionsHost', () => {
  let host: Awaited<ReturnType<typeof startFunctionsHost>>;
  const lines: string[] = [];

  beforeAll(async () => {
    host = await startFunctionsHost({
      port: 0,
      masterKey,
      defaultKey,
      entryPoints: [join(app, 'httpFunctions.js')],
      storageConnectionString: 'UseDevelopmentStorage=true',
      hostJsonPath: join(app, 'host.json'),
      log: (line) => lines.push(line),
    });
  });
  afterAll(async () => {
    await host.stop();
  });

  it('lists every registered function with its route, methods and auth level', () => {
    // Act
    const functions = host.functions();
    // Assess
    expect(functions.map((f) => f.name).sort()).toEqual(['adminOnly', 'boom', 'echo', 'keyed', 'numeric']);
    expect(functions.find((f) => f.name === 'echo')).toMatchObject({
      route: 'items/{id}/{tag?}',
      methods: ['GET', 'POST'],
      authLevel: 'anonymous',
    });
    expect(lines).toContain(`Functions host listening on ${host.url}`);
  });

  it('gives the handler a real HttpRequest with route params, query and headers', async () => {
    // Act
    const res = await fetch(`${host.url}/api/items/42/blue?x=1&y=two`, { headers: { 'x-custom': 'hello' } });
    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get('x-invocation-function')).toBe('echo');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({
      params: { id: '42', tag: 'blue' },
      query: { x: '1', y: 'two' },
      header: 'hello',
      method: 'GET',
      isHttpRequest: true,
      triggerMetadata: null,
    });
    expect(lines.some((l) => l.includes('echo invoked'))).toBe(true);
  });

  it('accepts an omitted optional parameter and passes a JSON body', async () => {
    // Act
    const res = await fetch(`${host.url}/api/ITEMS/7`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    // Assess
    const body = (await res.json()) as Record<string, unknown>;
    expect(body['params']).toEqual({ id: '7' });
    expect(body['body']).toEqual({ a: 1 });
  });

  it('answers 404 for an unknown route, a wrong method or a failed constraint', async () => {
    // Act
    const statuses = await Promise.all([
      fetch(`${host.url}/api/nothing-here`),
      fetch(`${host.url}/api/items/1`, { method: 'PUT' }),
      fetch(`${host.url}/api/numbers/abc`),
      fetch(`${host.url}/elsewhere/items/1`),
    ]).then((all) => all.map((r) => r.status));
    const ok = await fetch(`${host.url}/api/numbers/12`);
    // Assess
    expect(statuses).toEqual([404, 404, 404, 404]);
    expect(await ok.text()).toBe('n=12');
  });

  it('enforces function and admin keys from the code query or the x-functions-key header', async () => {
    // Act
    const noKey = await fetch(`${host.url}/api/keyed`);
    const wrongKey = await fetch(`${host.url}/api/keyed?code=nope`);
    const byQuery = await fetch(`${host.url}/api/keyed?code=${defaultKey}`);
    const byHeader = await fetch(`${host.url}/api/keyed`, { headers: { 'x-functions-key': masterKey } });
    const adminWithDefault = await fetch(`${host.url}/api/manage/thing`, {
      method: 'DELETE',
      headers: { 'x-functions-key': defaultKey },
    });
    const adminWithMaster = await fetch(`${host.url}/api/manage/thing`, {
      method: 'DELETE',
      headers: { 'x-functions-key': masterKey },
    });
    // Assess
    expect([noKey.status, wrongKey.status]).toEqual([401, 401]);
    expect([byQuery.status, await byQuery.text()]).toEqual([201, 'ok']);
    expect(byHeader.status).toBe(201);
    expect(adminWithDefault.status).toBe(401);
    expect(adminWithMaster.status).toBe(204);
  });

  it('hands a route value with a malformed escape to the function undecoded, as the real host does', async () => {
    // Act
    const res = await fetch(`${host.url}/api/items/%FF/caf%C3%A9%zz`);
    const literal = await fetch(`${host.url}/api/%FFitems/1`);
    const admin = await fetch(`${host.url}/admin/functions/%FF`, {
      headers: { 'x-functions-key': masterKey },
    });
    // Assess
    expect(res.status).toBe(200);
    expect(((await res.json()) as Record<string, unknown>)['params']).toEqual({
      id: '%FF',
      tag: 'caf%C3%A9%zz',
    });
    expect([literal.status, admin.status]).toEqual([404, 404]);
    expect(lines.filter((l) => l.includes('unexpected error serving a request'))).toEqual([]);
  });

  it('answers a request whose Host header is no host with 400, as Kestrel does, not 500', async () => {
    // Prepare: fetch cannot send such a Host header, so the request is written by hand.
    const url = host.url;
    const raw = (hostHeader: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(url).port), '127.0.0.1', () =>
          socket.end(`GET /api/items/1 HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`),
        );
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
    // Act
    const answers = await Promise.all(['[bad', 'a b', 'x:y:z'].map(raw));
    // Assess
    expect(answers.map((a) => a.split('\r\n')[0])).toEqual([
      'HTTP/1.1 400 Bad Request',
      'HTTP/1.1 400 Bad Request',
      'HTTP/1.1 400 Bad Request',
    ]);
    expect(lines.filter((l) => l.includes('unexpected error serving a request'))).toEqual([]);
  });

  it("answers a body over the real host's 100 MB limit with 413 before reading it, not by buffering it", async () => {
    // Prepare: the declared length is over the limit; the few bytes sent never reach the function.
    const url = new URL(host.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), '127.0.0.1', () =>
        socket.write(
          `POST /api/items/1 HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 104857601\r\n\r\n{"a":1}`,
        ),
      );
      let text = '';
      // A host that waits for the rest of the body never answers: what came within 3 s is the answer.
      const waited = setTimeout(() => socket.destroy(), 3000);
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('close', () => {
        clearTimeout(waited);
        resolve(text);
      });
      socket.on('error', reject);
    });
    // Assess
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
  });

  it('turns a thrown handler error into an empty 500 and logs it on the host only', async () => {
    // Act
    const res = await fetch(`${host.url}/api/boom`);
    const text = await res.text();
    // Assess
    expect(res.status).toBe(500);
    expect(text).toBe('');
    expect(lines.some((l) => l.includes("Executed 'Functions.boom' (Failed"))).toBe(true);
    expect(lines.some((l) => l.includes('secret-stack-detail'))).toBe(true);
  });

  it('serves the admin status with the master key only', async () => {
    // Act
    const denied = await fetch(`${host.url}/admin/host/status`, {
      headers: { 'x-functions-key': defaultKey },
    });
    const allowed = await fetch(`${host.url}/admin/host/status?code=${masterKey}`);
    // Assess
    expect(denied.status).toBe(401);
    expect(await allowed.json()).toMatchObject({ state: 'Running' });
  });

  it('starts a second host in the same process with its own registrations', async () => {
    // Prepare
    const second = await startFunctionsHost({
      port: 0,
      masterKey,
      defaultKey,
      entryPoints: [join(app, 'httpFunctions.js')],
      storageConnectionString: 'UseDevelopmentStorage=true',
      hostJsonPath: join(app, 'host.json'),
      log: () => undefined,
    });
    try {
      // Act
      const res = await fetch(`${second.url}/api/numbers/3`);
      // Assess
      expect(second.functions()).toHaveLength(5);
      expect(await res.text()).toBe('n=3');
    } finally {
      await second.stop();
    }
  });
});

describe('Function: decodePathSegment', () => {
  it('decodes a well-formed segment and hands a malformed one over as sent', () => {
    expect(decodePathSegment('caf%C3%A9%20x')).toBe('café x');
    expect(decodePathSegment('%FF')).toBe('%FF');
    expect(decodePathSegment('%zz%4')).toBe('%zz%4');
    expect(decodePathSegment('%C3%A9%E0%A4')).toBe('%C3%A9%E0%A4');
  });
});

describe('Function: compileRoute', () => {
  it('matches literals and a catch-all through malformed escapes without throwing', () => {
    // Prepare
    const route = compileRoute('files/{*rest}');
    // Act
    const matched = route.match('/files/a%FF/b%C3%A9');
    const literal = route.match('/fil%FFes/a');
    // Assess
    expect(matched).toEqual({ rest: 'a%FF/bé' });
    expect(literal).toBeUndefined();
  });
});
