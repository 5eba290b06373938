import { HttpRequest, type HttpResponseInit } from '@azure/functions';

import { readBodyText } from '../../../shared/http';
import { buildTestBroker, type TestBroker, type TestClient } from '../../fakes/broker/buildTestBroker';
import { basicAuth, jsonOf } from '../../support/httpParts';
import { malformedScope } from '../../support/recordedScope';

function post(body: string, headers: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: 'http://localhost/api/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: { string: body },
  });
}
const header = (r: HttpResponseInit, name: string) => (r.headers as Record<string, string>)[name];

/** The microtask turns until `work` settles, counted by a loop that awaits one turn at a time beside it. */
async function turnsUntilSettled(work: Promise<unknown>): Promise<number> {
  let settled = false;
  const done = () => {
    settled = true;
  };
  void work.then(done, done);
  let turns = 0;
  while (!settled) {
    await Promise.resolve();
    turns++;
  }
  return turns;
}

describe('Class: OAuthTokenProtocol', () => {
  let t: TestBroker;
  let c: TestClient;
  beforeEach(async () => {
    t = buildTestBroker();
    c = await t.addClient({ allowedScopes: ['demo-token'] });
  });

  describe('Method: handle', () => {
    it('answers RFC 6749 §5.1 with no-store headers for client_secret_post', async () => {
      // Act
      const r = await t.module.oauth.handle(
        post(`grant_type=client_credentials&client_id=${c.id}&client_secret=${c.primary}&scope=demo-token`),
      );

      // Assess
      expect(r.status).toBe(200);
      expect(jsonOf(r)).toEqual({
        access_token: 'amlToken-token-1',
        token_type: 'Bearer',
        expires_in: 3600,
        scope: 'demo-token',
      });
      expect(header(r, 'cache-control')).toBe('no-store');
      expect(header(r, 'pragma')).toBe('no-cache');
    });

    it('form-urldecodes the id and secret inside Basic (§2.3.1)', async () => {
      // Prepare: "client%2D1" is the form-urlencoded spelling of "client-1".
      const header64 = `Basic ${Buffer.from(`client%2D1:${c.primary}`).toString('base64')}`;

      // Act
      const r = await t.module.oauth.handle(
        post('grant_type=client_credentials', { authorization: header64 }),
      );

      // Assess
      expect(r.status).toBe(200);
      expect(jsonOf(r)['scope']).toBe('demo-token');
    });

    it('refuses two client authentication methods at once with invalid_request', async () => {
      // Act
      const r = await t.module.oauth.handle(
        post(`grant_type=client_credentials&client_secret=${c.primary}`, {
          authorization: basicAuth(c.id, c.primary),
        }),
      );

      // Assess
      expect(r.status).toBe(400);
      expect(jsonOf(r)['error']).toBe('invalid_request');
    });

    it.each([
      ['an empty client_id', 'grant_type=client_credentials&client_id='],
      ['an empty client_secret', 'grant_type=client_credentials&client_secret='],
      ['a client_secret without =', 'grant_type=client_credentials&client_secret'],
      ['a repeated unknown parameter', 'grant_type=client_credentials&foo=1&foo=2'],
      ['a repeated resource (RFC 8707)', 'grant_type=client_credentials&resource=demo-token&resource=b'],
    ])('issues the token to Basic beside %s, as omitted or unrecognised (§3.2)', async (_name, body) => {
      // Act
      const r = await t.module.oauth.handle(post(body, { authorization: basicAuth(c.id, c.primary) }));

      // Assess
      expect(r.status).toBe(200);
      expect(jsonOf(r)['scope']).toBe('demo-token');
    });

    it.each([
      [
        'a wrong grant type',
        'grant_type=password&client_id=x&client_secret=y',
        400,
        'unsupported_grant_type',
      ],
      ['a missing grant type', 'client_id=x&client_secret=y', 400, 'invalid_request'],
      ['a grant type without a value', 'grant_type=&client_id=x&client_secret=y', 400, 'invalid_request'],
      [
        'a repeated parameter',
        'grant_type=client_credentials&grant_type=client_credentials',
        400,
        'invalid_request',
      ],
      [
        'a repeated scope',
        'grant_type=client_credentials&client_id=x&client_secret=y&scope=a&scope=a',
        400,
        'invalid_request',
      ],
      ['no client authentication', 'grant_type=client_credentials', 401, 'invalid_client'],
      [
        'a malformed percent escape',
        'grant_type=client_credentials&client_id=x&client_secret=%E0%A4%A',
        400,
        'invalid_request',
      ],
    ])('answers %s with its RFC 6749 error', async (_name, body, status, error) => {
      // Act
      const r = await t.module.oauth.handle(post(body));

      // Assess
      expect(r.status).toBe(status);
      expect(jsonOf(r)['error']).toBe(error);
      expect(header(r, 'cache-control')).toBe('no-store');
    });

    it('takes RFC 8707 resource, as Azure AD v1 clients send it, for the token a request without scope asks for', async () => {
      // Prepare: a client allowed two tokens, so its default cannot stand in for what it asked.
      const two = await t.addClient({ allowedScopes: ['demo-token', 'https://ml.azure.com'] });
      const form = (extra: string) =>
        post(`grant_type=client_credentials&client_id=${two.id}&client_secret=${two.primary}${extra}`);

      // Act
      const byResource = await t.module.oauth.handle(form('&resource=https%3A%2F%2Fml.azure.com'));
      const both = await t.module.oauth.handle(form('&scope=demo-token%2F.default&resource=demo-token'));
      const different = await t.module.oauth.handle(
        form('&scope=demo-token&resource=https%3A%2F%2Fml.azure.com'),
      );
      const unlike = await t.module.oauth.handle(
        post(`grant_type=client_credentials&resource=https%3A%2F%2Fa`, {
          authorization: basicAuth(c.id, c.primary),
        }),
      );

      // Assess
      expect([byResource.status, jsonOf(byResource)['scope']]).toEqual([200, 'https://ml.azure.com']);
      expect([both.status, jsonOf(both)['scope']]).toEqual([200, 'demo-token/.default']);
      expect(jsonOf(different)).toEqual({
        error: 'invalid_request',
        error_description: 'scope and resource name different tokens; send one of them.',
      });
      // The only allowed scope is not granted in place of another token asked for by resource.
      expect([unlike.status, jsonOf(unlike)['error']]).toEqual([400, 'invalid_scope']);
    });

    it('answers a malformed scope and a refused one alike with invalid_scope, and audits them apart', async () => {
      // Act
      const ask = (scope: string) =>
        t.module.oauth.handle(
          post(`grant_type=client_credentials&scope=${encodeURIComponent(scope)}`, {
            authorization: basicAuth(c.id, c.primary),
          }),
        );
      const malformed = await ask('Demo_Token');
      const two = await ask('demo-token demo-aad');
      const refused = await ask('demo-aad');

      // Assess: RFC 6749 has one error for both; the audit reason tells the typo from the missing grant
      // (a scope that does not parse is recorded as a fingerprint: it may be a secret pasted there)
      for (const r of [malformed, two, refused]) {
        expect([r.status, jsonOf(r)['error']]).toEqual([400, 'invalid_scope']);
      }
      expect(t.audit.entries.map((e) => [e.scope, e.reason])).toEqual([
        [malformedScope('Demo_Token'), 'ScopeMalformed'],
        [malformedScope('demo-token demo-aad'), 'ScopeMalformed'],
        ['demo-aad', 'ScopeNotAllowed'],
      ]);
    });

    it('answers a scope whose endpoint row cannot be read with invalid_scope, not temporarily_unavailable', async () => {
      // Prepare: the endpoint's row edited by hand into something that is no endpoint
      t.endpoints.unreadable.set('demo-token', 'its endpoint column is not JSON');

      // Act
      const r = await t.module.oauth.handle(
        post(`grant_type=client_credentials&client_id=${c.id}&client_secret=${c.primary}&scope=demo-token`),
      );

      // Assess: a retry cannot help (no Retry-After to invite one), and the client is told whose move it is
      expect(r.status).toBe(400);
      expect(jsonOf(r)).toEqual({
        error: 'invalid_scope',
        error_description:
          'The endpoint this scope names cannot be served until an operator repairs its registration.',
      });
      expect(header(r, 'retry-after')).toBeUndefined();
    });

    it('answers an empty body with Basic credentials with invalid_request, as grant_type is missing (§5.2)', async () => {
      // Act
      const r = await t.module.oauth.handle(post('', { authorization: basicAuth(c.id, c.primary) }));

      // Assess
      expect(r.status).toBe(400);
      expect(jsonOf(r)).toEqual({
        error: 'invalid_request',
        error_description: 'The grant_type parameter is required.',
      });
    });

    it('answers invalid_client 401 with WWW-Authenticate, the same for unknown ids and wrong secrets', async () => {
      // Act
      const wrong = await t.module.oauth.handle(
        post('grant_type=client_credentials', { authorization: basicAuth(c.id, 'x') }),
      );
      const unknown = await t.module.oauth.handle(
        post('grant_type=client_credentials', { authorization: basicAuth('nobody', 'x') }),
      );

      // Assess
      expect(wrong.status).toBe(401);
      expect(header(wrong, 'www-authenticate')).toMatch(/^Basic realm="aml-credential-broker"/);
      expect(unknown).toEqual(wrong);
    });

    it.each([
      ['not base64', 'Basic !!!'],
      ['empty', 'Basic'],
      ['without a ":"', `Basic ${Buffer.from('client-1').toString('base64')}`],
      ['with a bad escape in the id', `Basic ${Buffer.from('client%zz:secret').toString('base64')}`],
      ['with a bad escape in the secret', `Basic ${Buffer.from('client-1:s%zz').toString('base64')}`],
    ])(
      'answers a Basic header %s with invalid_client 401 and WWW-Authenticate: Basic (§5.2)',
      async (_name, authorization) => {
        // Act
        const r = await t.module.oauth.handle(post('grant_type=client_credentials', { authorization }));

        // Assess
        expect(r.status).toBe(401);
        expect(jsonOf(r)['error']).toBe('invalid_client');
        expect(header(r, 'www-authenticate')).toMatch(/^Basic realm="aml-credential-broker"/);
      },
    );

    it.each([
      [
        'a Basic header without a ":"',
        'grant_type=client_credentials',
        `Basic ${Buffer.from('client-1').toString('base64')}`,
      ],
      ['a Basic header that is not base64', 'grant_type=client_credentials', 'Basic !!!'],
      ['a repeated parameter', 'grant_type=client_credentials&grant_type=client_credentials', undefined],
      ['an unsupported grant type', 'grant_type=password', undefined],
      ['several scopes', 'grant_type=client_credentials&scope=demo-token+other', undefined],
    ])(
      "writes the error_description of %s in the characters RFC 6749 §5.2 allows (no '\"' or '\\')",
      async (_name, body, authorization) => {
        // Act
        const r = await t.module.oauth.handle(
          post(body, { authorization: authorization ?? basicAuth(c.id, c.primary) }),
        );

        // Assess
        expect(r.status).toBeGreaterThanOrEqual(400);
        expect(jsonOf(r)['error_description']).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/);
      },
    );

    it('does not count malformed Basic headers that name a client towards its backoff', async () => {
      // Prepare: more malformed headers naming the client than the 5 failures allowed before a backoff.
      const malformed = `Basic ${Buffer.from(`${c.id}:%zz`).toString('base64')}`;
      for (let i = 0; i < 8; i++) {
        await t.module.oauth.handle(post('grant_type=client_credentials', { authorization: malformed }));
      }

      // Act
      const wrong = await t.module.oauth.handle(
        post('grant_type=client_credentials', { authorization: basicAuth(c.id, 'x') }),
      );

      // Assess: the first wrong secret is a plain failure, not a backoff.
      expect(wrong.status).toBe(401);
      expect(jsonOf(wrong)['error']).toBe('invalid_client');
    });

    it('ignores an unrecognised parameter that is not form-urlencoded, as RFC 6749 §3.2 asks', async () => {
      // Act
      const r = await t.module.oauth.handle(
        post(
          `grant_type=client_credentials&client_id=${c.id}&client_secret=${c.primary}&scope=demo-token&note=100%&x%zz=1`,
        ),
      );

      // Assess
      expect(r.status).toBe(200);
      expect(jsonOf(r)['scope']).toBe('demo-token');
    });

    it('audits and counts a request refused before the broker, with the client and scope it presented', async () => {
      // Act
      const refusals = [
        await t.module.oauth.handle(post('grant_type=client_credentials&scope=demo-token')),
        await t.module.oauth.handle(post('{}', { 'content-type': 'application/json' })),
        await t.module.oauth.handle(
          post(`grant_type=password&client_id=${c.id}&client_secret=${c.primary}&scope=demo-token`),
        ),
        await t.module.oauth.handle(
          post(`grant_type=client_credentials&client_secret=x&scope=demo-token`, {
            authorization: basicAuth(c.id, c.primary),
          }),
        ),
        await t.module.oauth.handle(post('grant_type=client_credentials', { authorization: 'Basic !!!' })),
        await t.module.oauth.handle(post(`grant_type=client_credentials&x=${'a'.repeat(10_000)}`)),
      ];

      // Assess: one denial each, as for a refusal inside the broker (a wrong secret, say)
      expect(refusals.map((r) => r.status)).toEqual([401, 400, 400, 400, 401, 413]);
      const denied = t.audit.entries.map(({ timeMs: _time, ...entry }) => entry);
      expect(denied).toEqual([
        { clientId: '', scope: 'demo-token', protocol: 'oauth', outcome: 'denied', reason: 'InvalidClient' },
        { clientId: '', scope: '', protocol: 'oauth', outcome: 'denied', reason: 'InvalidRequest' },
        {
          clientId: c.id,
          scope: 'demo-token',
          protocol: 'oauth',
          outcome: 'denied',
          reason: 'UnsupportedGrantType',
        },
        {
          clientId: c.id,
          scope: 'demo-token',
          protocol: 'oauth',
          outcome: 'denied',
          reason: 'InvalidRequest',
        },
        { clientId: '', scope: '', protocol: 'oauth', outcome: 'denied', reason: 'InvalidClient' },
        { clientId: '', scope: '', protocol: 'oauth', outcome: 'denied', reason: 'PayloadTooLarge' },
      ]);
      expect(
        t.telemetry.events.filter((e) => e.name === 'TokenDenied').map((e) => e.props?.['reason']),
      ).toEqual(denied.map((e) => e.reason));
      expect(t.audit.text()).not.toContain(c.primary);
    });

    it('refuses a non-form body', async () => {
      // Act
      const r = await t.module.oauth.handle(post('{}', { 'content-type': 'application/json' }));

      // Assess
      expect(r.status).toBe(400);
      expect(jsonOf(r)['error']).toBe('invalid_request');
    });

    it('refuses bodies over the size limit', async () => {
      // Act
      const r = await t.module.oauth.handle(post(`grant_type=client_credentials&x=${'a'.repeat(10_000)}`));

      // Assess
      expect(r.status).toBe(413);
      expect(jsonOf(r)['error']).toBe('invalid_request');
    });

    it('answers unauthorized_client for a disabled client', async () => {
      // Prepare
      await t.module.admin.update(c.id, { enabled: false });

      // Act
      const r = await t.module.oauth.handle(
        post('grant_type=client_credentials', { authorization: basicAuth(c.id, c.primary) }),
      );

      // Assess
      expect(r.status).toBe(400);
      expect(jsonOf(r)['error']).toBe('unauthorized_client');
    });

    it('answers slow_down 429 with Retry-After over the rate limit', async () => {
      // Prepare
      await t.module.admin.update(c.id, { rateLimitPerMinute: 1 });
      const request = () =>
        post('grant_type=client_credentials', { authorization: basicAuth(c.id, c.primary) });
      await t.module.oauth.handle(request());

      // Act
      const r = await t.module.oauth.handle(request());

      // Assess
      expect(r.status).toBe(429);
      expect(jsonOf(r)['error']).toBe('slow_down');
      expect(header(r, 'retry-after')).toBe('60');
    });

    it('answers temporarily_unavailable 503 with Retry-After naming the upstream failure', async () => {
      // Prepare
      t.aml.behaviour = { kind: 'error', error: Object.assign(new Error('x'), { code: 'ECONNRESET' }) };

      // Act
      const r = await t.module.oauth.handle(
        post('grant_type=client_credentials', { authorization: basicAuth(c.id, c.primary) }),
      );

      // Assess
      expect(r.status).toBe(503);
      expect(jsonOf(r)['error']).toBe('temporarily_unavailable');
      expect(jsonOf(r)['error_description']).toContain('amlToken failed (network)');
      expect(header(r, 'retry-after')).toBe('2');
    });

    it('waits on nothing but its body read for a warm vend', async () => {
      // Prepare: the first request reads the client, the endpoint and the token, and matches the HMAC
      const body = 'grant_type=client_credentials&scope=demo-token';
      const request = () => post(body, { authorization: basicAuth(c.id, c.primary) });
      await t.module.oauth.handle(request());

      // Act: microtask turns until each settles, counted alongside (stable for a given Node.js)
      const bodyRead = await turnsUntilSettled(readBodyText(request()));
      const vend = await turnsUntilSettled(t.module.oauth.handle(request()));

      // Assess: handle's own await of the body read, and one for the vend's promise (already settled)
      expect(vend - bodyRead).toBeLessThanOrEqual(2);
    });
  });
});
