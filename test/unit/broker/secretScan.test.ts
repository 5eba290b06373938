import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';

import { endpointTokenHandler } from '../../../functions/endpointToken';
import { manageClientHandler } from '../../../functions/manageClient';
import { manageClientsHandler } from '../../../functions/manageClients';
import { msiTokenHandler } from '../../../functions/msiToken';
import { oauthTokenHandler } from '../../../functions/oauthToken';
import { buildTestBroker, TEST_PEPPER } from '../../fakes/broker/buildTestBroker';
import { basicAuth } from '../../support/httpParts';
import { withheldScope } from '../../support/recordedScope';

/** A broker over fakes, its three token routes, and an invocation context whose log lines are kept. */
function tokenRoutes(invocationId: string) {
  const t = buildTestBroker();
  const lines: string[] = [];
  const context = new InvocationContext({
    invocationId,
    logHandler: (_l, ...args) => void lines.push(args.join(' ')),
  });
  return {
    t,
    lines,
    context,
    oauth: oauthTokenHandler(() => t.module),
    msi: msiTokenHandler(() => t.module),
    aml: endpointTokenHandler(() => t.module),
  };
}

describe('Secret hygiene across the broker', () => {
  it('no client secret, pepper or token reaches logs, audit rows, telemetry or error bodies', async () => {
    // Prepare
    const { t, lines, context, oauth, msi, aml } = tokenRoutes('scan');
    const a = await t.addClient({ allowedScopes: ['demo-token', 'https://ml.azure.com'] });
    const b = await t.addClient({ allowedScopes: ['demo-key'], keyAccess: true });
    const secrets = [a.primary, a.secondary, b.primary, b.secondary];
    const successBodies: string[] = [];
    const otherBodies: string[] = [];
    const keep = (r: HttpResponseInit) =>
      (r.status === 200 ? successBodies : otherBodies).push((r.body as string | undefined) ?? '');
    const form = (body: string, auth?: string) =>
      new HttpRequest({
        method: 'POST',
        url: 'http://localhost/api/oauth2/token',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(auth ? { authorization: auth } : {}),
        },
        body: { string: body },
      });
    const msiGet = (clientId: string, identityHeader: string) =>
      new HttpRequest({
        method: 'GET',
        url: `http://l/api/msi/token?api-version=2019-08-01&resource=demo-key&client_id=${clientId}`,
        headers: { 'x-identity-header': identityHeader },
      });
    const amlPost = (headers: Record<string, string>) =>
      new HttpRequest({
        method: 'POST',
        url: 'http://l/api/endpoints/demo-token/token',
        params: { id: 'demo-token' },
        headers,
      });

    // Act: successes and every kind of failure, with secrets in the places callers put them.
    keep(
      await oauth(
        form('grant_type=client_credentials&scope=demo-token', basicAuth(a.id, a.primary)),
        context,
      ),
    );
    keep(
      await oauth(
        form(
          `grant_type=client_credentials&client_id=${a.id}&client_secret=${a.secondary}&scope=https://ml.azure.com`,
        ),
        context,
      ),
    );
    keep(
      await oauth(
        form(`grant_type=client_credentials&client_id=${a.id}&client_secret=${b.primary}`),
        context,
      ),
    );
    keep(
      await oauth(
        form(`grant_type=client_credentials&client_secret=${a.primary}`, basicAuth(a.id, a.primary)),
        context,
      ),
    );
    keep(await oauth(form(`grant_type=password&client_id=${b.id}&client_secret=${b.secondary}`), context));
    keep(
      await oauth(form('grant_type=client_credentials&scope=demo-aad', basicAuth(a.id, a.primary)), context),
    );
    for (let i = 0; i < 8; i++)
      keep(await oauth(form('grant_type=client_credentials', basicAuth(b.id, a.primary)), context));
    keep(await msi(msiGet(b.id, b.primary), context));
    keep(await msi(msiGet(a.id, b.secondary), context));
    keep(await aml(amlPost({ 'x-identity-header': `${a.id}:${a.primary}` }), context));
    t.aml.behaviour = {
      kind: 'error',
      error: Object.assign(new Error(`upstream echoed ${a.primary}`), { statusCode: 500 }),
    };
    t.module.cache.invalidate();
    keep(await aml(amlPost({ authorization: basicAuth(a.id, a.primary) }), context));
    const listed = await manageClientsHandler(() => t.module)(
      new HttpRequest({ method: 'GET', url: 'http://l/api/manage/clients' }),
      context,
    );
    const one = await manageClientHandler(() => t.module)(
      new HttpRequest({ method: 'GET', url: `http://l/api/manage/clients/${a.id}`, params: { id: a.id } }),
      context,
    );
    await t.module.audit.flush();

    // Assess
    const tokens = ['amlToken-token', 'managedIdentity-token', 'keyVault-token'];
    expect(successBodies.join()).toMatch(/amlToken-token-1/);
    expect(successBodies.join()).toMatch(/keyVault-token-1/);
    const everythingElse = [
      ...otherBodies,
      ...lines,
      ...t.logs,
      t.audit.text(),
      t.telemetry.text(),
      JSON.stringify(listed.jsonBody),
      JSON.stringify(one.jsonBody),
    ].join('\n');
    expect(otherBodies.length).toBeGreaterThan(10);
    for (const secret of [...secrets, TEST_PEPPER, ...tokens]) expect(everythingElse).not.toContain(secret);
    for (const record of t.registry.records.values()) {
      expect(everythingElse).not.toContain(record.primarySecretHash);
      expect(everythingElse).not.toContain(record.secondarySecretHash);
    }
    for (const body of successBodies) for (const secret of secrets) expect(body).not.toContain(secret);
  });

  it('no secret, token or key pasted into a scope, resource or Azure ML route id reaches audit rows or telemetry', async () => {
    // Prepare: what a client may paste where the scope goes, on each route, refused by the broker (after
    // authentication or not) and by the route before it (a wrong grant type, no api-version, no credentials)
    const { t, lines, context, oauth, msi, aml } = tokenRoutes('pasted');
    const a = await t.addClient({ allowedScopes: ['demo-token', 'https://ml.azure.com'] });
    const jwt = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL21sLmF6dXJlLmNvbSJ9.c2lnbmF0dXJl';
    const key = 'pQ3x9+Lk2mV8zR1tY6wB0nH4sD7fG5jK/aE2cU9oI1Y=';
    const form = (body: string, auth?: string) =>
      new HttpRequest({
        method: 'POST',
        url: 'http://localhost/api/oauth2/token',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(auth ? { authorization: auth } : {}),
        },
        body: { string: body },
      });
    const msiGet = (query: string, identityHeader: string) =>
      new HttpRequest({
        method: 'GET',
        url: `http://l/api/msi/token?${query}&client_id=${a.id}`,
        headers: { 'x-identity-header': identityHeader },
      });
    const amlPost = (id: string, headers: Record<string, string>) =>
      new HttpRequest({ method: 'POST', url: 'http://l/api/endpoints/x/token', params: { id }, headers });
    const ok = basicAuth(a.id, a.primary);
    const requests: Array<() => Promise<unknown>> = [];
    for (const pasted of [a.secondary, jwt, key]) {
      const p = encodeURIComponent(pasted);
      requests.push(
        () => oauth(form(`grant_type=client_credentials&scope=${p}`, ok), context),
        () => oauth(form(`grant_type=client_credentials&resource=${p}`, ok), context),
        () => oauth(form(`grant_type=client_credentials&scope=${p}`, basicAuth(a.id, 'wrong')), context),
        () => oauth(form(`grant_type=password&scope=${p}`, ok), context),
        () => msi(msiGet(`api-version=2019-08-01&resource=${p}`, a.primary), context),
        () => msi(msiGet(`resource=${p}`, a.primary), context),
        () => aml(amlPost(pasted, { authorization: ok }), context),
        () => aml(amlPost(`${a.id}:${pasted}`, { authorization: ok }), context),
        () => aml(amlPost(`${a.id}:${pasted}`, {}), context),
      );
    }
    // and a well-formed scope that holds the secret the request presented
    const inUri = encodeURIComponent(`https://ml.azure.com/${a.primary}`);
    requests.push(
      () => oauth(form(`grant_type=client_credentials&scope=${inUri}`, ok), context),
      () => msi(msiGet(`api-version=2019-08-01&resource=${inUri}`, a.primary), context),
    );

    // Act: a second apart, so that every denial has its own TokenDenied event to scan
    for (const send of requests) {
      await send();
      t.clock.advance(1000);
    }
    await t.module.audit.flush();

    // Assess: every refusal recorded, each scope as a fingerprint, none of the pasted text anywhere
    expect(t.audit.entries).toHaveLength(requests.length);
    expect(t.audit.entries.every((e) => e.outcome === 'denied')).toBe(true);
    const events = t.telemetry.events.filter((e) => e.name === 'TokenDenied');
    expect(events).toHaveLength(requests.length);
    for (const scope of [...t.audit.entries.map((e) => e.scope), ...events.map((e) => e.props?.['scope'])]) {
      expect(scope).toMatch(/^(malformed|withheld):[0-9a-f]{16}:\d+$/);
    }
    const everything = [t.audit.text(), t.telemetry.text(), ...t.logs, ...lines].join('\n');
    for (const pasted of [a.primary, a.secondary, jwt, key]) expect(everything).not.toContain(pasted);
    expect(everything).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });

  it('never records a well-formed scope that holds a secret its request presented, when the route refused it before the broker', async () => {
    // Prepare: on each route, a request refused before authentication (no grant_type, a wrong grant type,
    // two authentication methods, a secret without an id, no api-version, ids that disagree) that presented
    // a secret and pasted it into a scope that parses: a resource URI's path, or an Azure ML route id (an
    // endpoint id is lowercase, so a made-up lowercase secret stands in for a real one there)
    const { t, lines, context, oauth, msi, aml } = tokenRoutes('refused');
    const a = await t.addClient({ allowedScopes: ['demo-token', 'https://ml.azure.com'] });
    const lowercase = 'lowercasesecret0123456789';
    const inUri = (secret: string) => `https://ml.azure.com/${secret}`;
    const form = (body: string, auth?: string) =>
      new HttpRequest({
        method: 'POST',
        url: 'http://localhost/api/oauth2/token',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(auth ? { authorization: auth } : {}),
        },
        body: { string: body },
      });
    const msiGet = (query: string, identityHeader: string) =>
      new HttpRequest({
        method: 'GET',
        url: `http://l/api/msi/token?${query}`,
        headers: { 'x-identity-header': identityHeader },
      });
    const amlPost = (id: string, headers: Record<string, string>) =>
      new HttpRequest({ method: 'POST', url: 'http://l/api/endpoints/x/token', params: { id }, headers });
    const scope = (secret: string) => `scope=${encodeURIComponent(inUri(secret))}`;
    const resource = (secret: string) => `resource=${encodeURIComponent(inUri(secret))}`;
    const sends: Array<[sent: string, send: () => Promise<HttpResponseInit>]> = [
      [inUri(a.primary), () => oauth(form(scope(a.primary), basicAuth(a.id, a.primary)), context)],
      [
        inUri(a.secondary),
        () =>
          oauth(
            form(
              `grant_type=password&client_id=${a.id}&client_secret=${a.secondary}&${resource(a.secondary)}`,
            ),
            context,
          ),
      ],
      [
        inUri(a.secondary),
        () =>
          oauth(
            form(
              `grant_type=client_credentials&client_secret=${a.secondary}&${scope(a.secondary)}`,
              basicAuth(a.id, a.primary),
            ),
            context,
          ),
      ],
      [
        inUri(a.primary),
        () =>
          oauth(
            form(`grant_type=client_credentials&client_secret=${a.primary}&${scope(a.primary)}`),
            context,
          ),
      ],
      [inUri(a.primary), () => msi(msiGet(`${resource(a.primary)}&client_id=${a.id}`, a.primary), context)],
      [
        inUri(a.secondary),
        () =>
          msi(
            msiGet(
              `api-version=2019-08-01&${resource(a.secondary)}&client_id=${a.id}`,
              `other:${a.secondary}`,
            ),
            context,
          ),
      ],
      [
        lowercase,
        () =>
          aml(
            amlPost(lowercase, {
              authorization: basicAuth(a.id, a.primary),
              'x-identity-header': `${a.id}:${lowercase}`,
            }),
            context,
          ),
      ],
    ];

    // Act: a second apart, so that every denial has its own TokenDenied event to scan
    const statuses: Array<number | undefined> = [];
    for (const [, send] of sends) {
      statuses.push((await send()).status);
      t.clock.advance(1000);
    }
    await t.module.audit.flush();

    // Assess: refused by the route (the broker authenticated no one), each scope withheld as a fingerprint of
    // what was sent, in the row and the event alike, and no secret anywhere
    expect(statuses).toEqual([400, 400, 400, 401, 400, 401, 400]);
    expect(t.audit.entries.map((e) => e.reason)).toEqual([
      'InvalidRequest',
      'UnsupportedGrantType',
      'InvalidRequest',
      'InvalidClient',
      'BadRequest',
      'InvalidClient',
      'InvalidRequest',
    ]);
    const recorded = sends.map(([sent]) => withheldScope(sent));
    expect(t.audit.entries.map((e) => e.scope)).toEqual(recorded);
    const events = t.telemetry.events.filter((e) => e.name === 'TokenDenied');
    expect(events.map((e) => e.props?.['scope'])).toEqual(recorded);
    const everything = [t.audit.text(), t.telemetry.text(), ...t.logs, ...lines].join('\n');
    for (const secret of [a.primary, a.secondary, lowercase]) expect(everything).not.toContain(secret);
  });

  it('answers an outage and an unexpected failure on every token route with a generic message, never the error’s own', async () => {
    // Prepare: the client registry down (503), then a failure no one planned for, carrying a secret (500)
    const t = buildTestBroker();
    const lines: string[] = [];
    const context = new InvocationContext({
      invocationId: 'generic',
      logHandler: (_l, ...args) => void lines.push(args.join(' ')),
    });
    const c = await t.addClient({ allowedScopes: ['demo-token'] });
    const send = () =>
      Promise.all([
        oauthTokenHandler(() => t.module)(
          new HttpRequest({
            method: 'POST',
            url: 'http://l/api/oauth2/token',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              authorization: basicAuth(c.id, c.primary),
            },
            body: { string: 'grant_type=client_credentials&scope=demo-token' },
          }),
          context,
        ),
        msiTokenHandler(() => t.module)(
          new HttpRequest({
            method: 'GET',
            url: `http://l/api/msi/token?api-version=2019-08-01&resource=demo-token&client_id=${c.id}`,
            headers: { 'x-identity-header': c.primary },
          }),
          context,
        ),
        endpointTokenHandler(() => t.module)(
          new HttpRequest({
            method: 'POST',
            url: 'http://l/api/endpoints/demo-token/token',
            params: { id: 'demo-token' },
            headers: { authorization: basicAuth(c.id, c.primary) },
          }),
          context,
        ),
      ]);
    const messages = (answers: HttpResponseInit[]) =>
      answers.map((r) => {
        const body = JSON.parse(r.body as string) as Record<string, unknown>;
        return { status: r.status, message: body['error_description'] ?? body['message'] ?? body['detail'] };
      });

    // Act
    t.registry.failing = true;
    const outage = await send();
    t.registry.failing = false;
    const leaked = `audit store echoed ${c.primary}`;
    const record = t.audit.record.bind(t.audit);
    t.audit.record = (entry) => {
      if (entry.outcome === 'issued') throw new Error(leaked);
      record(entry);
    };
    const unexpected = await send();

    // Assess
    const unavailable = 'A service the broker depends on is not available. Try again later.';
    expect(messages(outage)).toEqual([503, 503, 503].map((status) => ({ status, message: unavailable })));
    const generic = 'An unexpected error occurred.';
    expect(messages(unexpected)).toEqual([500, 500, 500].map((status) => ({ status, message: generic })));
    expect(t.logs.filter((l) => l.includes('vend => unexpected error'))).toHaveLength(3);
    const everything = [...outage, ...unexpected]
      .map((r) => r.body as string)
      .concat(lines, t.logs)
      .join('\n');
    expect(everything).not.toContain(c.primary);
  });
});
