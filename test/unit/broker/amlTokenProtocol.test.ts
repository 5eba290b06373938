import { HttpRequest } from '@azure/functions';

import { buildTestBroker, type TestBroker, type TestClient } from '../../fakes/broker/buildTestBroker';
import { basicAuth, jsonOf } from '../../support/httpParts';
import { malformedScope, withheldScope } from '../../support/recordedScope';
import { settle } from '../../support/waitFor';

/** The 400 detail of an id that is no endpoint id (the route takes no resource URI). */
const ENDPOINT_ID_DETAIL =
  'The id is not a valid endpoint id: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.';

function post(id: string, headers: Record<string, string> = {}, query = ''): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: `http://localhost/api/endpoints/${id}/token${query}`,
    headers,
    params: { id },
  });
}

describe('Class: AmlTokenProtocol', () => {
  let t: TestBroker;
  let c: TestClient;
  beforeEach(async () => {
    t = buildTestBroker();
    c = await t.addClient({ allowedScopes: ['demo-token'] });
  });

  describe('Method: handle', () => {
    it('answers the EndpointAuthToken shape in epoch seconds with Basic auth', async () => {
      // Act
      const r = await t.module.amlToken.handle(
        post('demo-token', { authorization: basicAuth(c.id, c.primary) }),
        'i',
      );

      // Assess
      const nowSeconds = Math.floor(t.clock.now() / 1000);
      expect(r.status).toBe(200);
      expect(jsonOf(r)).toEqual({
        accessToken: 'amlToken-token-1',
        tokenType: 'Bearer',
        expiryTimeUtc: nowSeconds + 3600,
        refreshAfterTimeUtc: nowSeconds + 1800,
      });
    });

    it('never names a refreshAfterTimeUtc already past, while the upstream fails and the cached token is served', async () => {
      // Prepare: a token whose refresh time (30 min) has passed, and an ARM that fails meanwhile.
      const request = () =>
        t.module.amlToken.handle(post('demo-token', { authorization: basicAuth(c.id, c.primary) }), 'i');
      await request();
      t.aml.behaviour = { kind: 'error', error: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) };
      t.clock.advance(40 * 60_000);

      // Act: one answer starts the refresh, which fails; the next is served while the failure pause runs.
      const answers = [jsonOf(await request())];
      await settle();
      answers.push(jsonOf(await request()));

      // Assess: the same token, with a hint a client following "refresh after refreshAfterTimeUtc" does not
      // take as "due now" on each call (which, through an outage, would spend its rate limit on the broker).
      const nowSeconds = Math.floor(t.clock.now() / 1000);
      for (const answer of answers) {
        expect(answer['accessToken']).toBe('amlToken-token-1');
        expect(answer['refreshAfterTimeUtc']).toBeGreaterThan(nowSeconds);
        expect(answer['refreshAfterTimeUtc']).toBeLessThanOrEqual(Number(answer['expiryTimeUtc']));
      }
    });

    it('accepts X-IDENTITY-HEADER with client_id, or <clientId>:<secret> in the header', async () => {
      // Act
      const withParam = await t.module.amlToken.handle(
        post('demo-token', { 'x-identity-header': c.secondary }, `?client_id=${c.id}`),
        'i',
      );
      const inHeader = await t.module.amlToken.handle(
        post('demo-token', { 'x-identity-header': `${c.id}:${c.primary}` }),
        'i',
      );

      // Assess
      expect(withParam.status).toBe(200);
      expect(inHeader.status).toBe(200);
    });

    it('answers 401 problem details with WWW-Authenticate without credentials', async () => {
      // Act
      const r = await t.module.amlToken.handle(post('demo-token'), 'inv-1');

      // Assess
      expect(r.status).toBe(401);
      expect((r.headers as Record<string, string>)['www-authenticate']).toMatch(/^Basic realm=/);
      expect((r.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
      expect(jsonOf(r)).toMatchObject({ code: 'InvalidClient', instance: 'inv-1' });
    });

    it('answers a malformed Basic header with 401 InvalidClient and WWW-Authenticate, as OAuth does', async () => {
      // Act
      const r = await t.module.amlToken.handle(post('demo-token', { authorization: 'Basic !!!' }), 'inv-2');

      // Assess
      expect(r.status).toBe(401);
      expect((r.headers as Record<string, string>)['www-authenticate']).toMatch(/^Basic realm=/);
      expect(jsonOf(r)).toMatchObject({
        code: 'InvalidClient',
        detail: 'The Basic credentials are not base64.',
      });
    });

    it('refuses both authentication methods at once', async () => {
      // Act
      const r = await t.module.amlToken.handle(
        post('demo-token', {
          authorization: basicAuth(c.id, c.primary),
          'x-identity-header': `${c.id}:${c.primary}`,
        }),
        'i',
      );

      // Assess
      expect(r.status).toBe(400);
    });

    it('audits and counts a request refused before the broker, with the client and endpoint it presented', async () => {
      // Act
      const refusals = [
        await t.module.amlToken.handle(post('demo-token'), 'i'),
        await t.module.amlToken.handle(post('demo-token', { authorization: 'Basic !!!' }), 'i'),
        await t.module.amlToken.handle(
          post('demo-token', {
            authorization: basicAuth(c.id, c.primary),
            'x-identity-header': `${c.id}:${c.primary}`,
          }),
          'i',
        ),
      ];

      // Assess
      expect(refusals.map((r) => r.status)).toEqual([401, 401, 400]);
      const denied = t.audit.entries.map(({ timeMs: _time, ...entry }) => entry);
      expect(denied).toEqual([
        {
          clientId: '',
          scope: 'demo-token',
          protocol: 'amlToken',
          outcome: 'denied',
          reason: 'InvalidClient',
        },
        {
          clientId: '',
          scope: 'demo-token',
          protocol: 'amlToken',
          outcome: 'denied',
          reason: 'InvalidClient',
        },
        {
          clientId: c.id,
          scope: 'demo-token',
          protocol: 'amlToken',
          outcome: 'denied',
          reason: 'InvalidRequest',
        },
      ]);
      expect(t.telemetry.events.filter((e) => e.name === 'TokenDenied')).toHaveLength(3);
      expect(t.audit.text()).not.toContain(c.primary);
    });

    it('answers 403 for an endpoint outside the allow-list', async () => {
      // Act
      const r = await t.module.amlToken.handle(
        post('demo-aad', { authorization: basicAuth(c.id, c.primary) }),
        'i',
      );

      // Assess
      expect(r.status).toBe(403);
      expect(jsonOf(r)['code']).toBe('ScopeNotAllowed');
      // RFC 9457: the status phrase as title, the machine-readable code in its own member
      expect(jsonOf(r)['title']).toBe('Forbidden');
    });

    it.each([
      ['capitals and an underscore', 'Demo_Token'],
      ['one character', 'd'],
      ['64 characters', 'd'.repeat(64)],
      ['a percent escape the host passes on undecoded', '%FF'],
      ['a colon, as a resource URI would have', 'https:ml.azure.com'],
      ['two characters, which the endpoint registry refuses', 'ab'],
      ['a trailing hyphen, which the endpoint registry refuses', 'demo-'],
      ['a double hyphen, which the endpoint registry refuses', 'demo--token'],
    ])(
      'answers an endpoint id with %s with 400 ScopeMalformed problem details, not 403',
      async (_name, id) => {
        // Act
        const r = await t.module.amlToken.handle(
          post(id, { authorization: basicAuth(c.id, c.primary) }),
          'inv-3',
        );

        // Assess: the caller's mistake, told apart from a refusal by status and code alike
        expect(r.status).toBe(400);
        expect((r.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
        expect(jsonOf(r)).toMatchObject({
          title: 'Bad Request',
          status: 400,
          code: 'ScopeMalformed',
          detail: ENDPOINT_ID_DETAIL,
          instance: 'inv-3',
        });
      },
    );

    it('says a resource URI is no endpoint id, since this route takes endpoint ids only', async () => {
      // Prepare: a client that may have the resource, which the route still refuses
      const both = await t.addClient({ allowedScopes: ['demo-token', 'https://ml.azure.com'] });

      // Act: as the host hands over a percent-encoded URI, and with the colon alone
      const replies = [
        await t.module.amlToken.handle(
          post('https://ml.azure.com', { authorization: basicAuth(both.id, both.primary) }),
          'i',
        ),
        await t.module.amlToken.handle(
          post('https:ml.azure.com', { authorization: basicAuth(both.id, both.primary) }),
          'i',
        ),
      ];

      // Assess
      for (const r of replies) {
        expect(r.status).toBe(400);
        expect(jsonOf(r)).toMatchObject({ code: 'ScopeMalformed', detail: ENDPOINT_ID_DETAIL });
      }
      expect(JSON.stringify(replies.map(jsonOf))).not.toContain('resource URI');
    });

    it('audits an id with a colon as it was sent, a fingerprint when it parses as no scope, never the secret pasted in it', async () => {
      // Prepare: ids that hold a colon: the id and secret pasted as in X-IDENTITY-HEADER, a URI's scheme
      const pasted = `${c.id}:${c.primary}`;
      const ask = (id: string, auth = basicAuth(c.id, c.primary)) =>
        t.module.amlToken.handle(post(id, { authorization: auth }), 'i');

      // Act: refused by the broker (ScopeMalformed, InvalidClient) and by the route (no credentials)
      await ask(pasted);
      await ask('https:ml.azure.com', basicAuth(c.id, 'wrong'));
      await ask('https://ml.azure.com');
      await t.module.amlToken.handle(post(pasted), 'i');

      // Assess: the audit row and the TokenDenied event record what was sent, not ''
      // (withheld when it holds the secret the request presented, which a route refusal does not read)
      const recorded = [
        [withheldScope(pasted), 'ScopeMalformed'],
        [malformedScope('https:ml.azure.com'), 'InvalidClient'],
        ['https://ml.azure.com', 'ScopeMalformed'],
        [malformedScope(pasted), 'InvalidClient'],
      ];
      expect(t.audit.entries.map((e) => [e.scope, e.reason])).toEqual(recorded);
      const events = t.telemetry.events.filter((e) => e.name === 'TokenDenied');
      expect(events.map((e) => [e.props?.['scope'], e.props?.['reason']])).toEqual(recorded);
      expect([t.audit.text(), t.telemetry.text(), t.logs.join('\n')].join('\n')).not.toContain(c.primary);
    });

    it('authenticates before it reads the endpoint id: a wrong secret with a malformed id is 401', async () => {
      // Act
      const r = await t.module.amlToken.handle(
        post('Demo_Token', { authorization: basicAuth(c.id, 'nope') }),
        'i',
      );

      // Assess
      expect(r.status).toBe(401);
      expect(jsonOf(r)['code']).toBe('InvalidClient');
    });

    it('keeps 403 ScopeNotAllowed for a well-formed id it refuses, a registered or unknown endpoint alike (no 404)', async () => {
      // Prepare
      const asker = await t.addClient({ allowedScopes: ['demo-token', 'no-such-endpoint'] });
      const ask = (id: string) =>
        t.module.amlToken.handle(post(id, { authorization: basicAuth(asker.id, asker.primary) }), 'i');

      // Act
      const replies = [await ask('demo-aad'), await ask('other-endpoint'), await ask('no-such-endpoint')];

      // Assess
      expect(replies.map((r) => [r.status, jsonOf(r)['code']])).toEqual(
        Array(3).fill([403, 'ScopeNotAllowed']),
      );
    });

    it('audits and counts a malformed id as ScopeMalformed, a refused one as ScopeNotAllowed', async () => {
      // Act
      await t.module.amlToken.handle(post('Demo_Token', { authorization: basicAuth(c.id, c.primary) }), 'i');
      await t.module.amlToken.handle(post('demo-aad', { authorization: basicAuth(c.id, c.primary) }), 'i');

      // Assess: the audit row, the TokenDenied event and the BrokerTokensDenied metric tell a typo from a refusal
      // (the id that does not parse recorded as a fingerprint: it may be a secret pasted there)
      expect(t.audit.entries.map((e) => [e.scope, e.reason])).toEqual([
        [malformedScope('Demo_Token'), 'ScopeMalformed'],
        ['demo-aad', 'ScopeNotAllowed'],
      ]);
      const events = t.telemetry.events.filter((e) => e.name === 'TokenDenied');
      expect(events.map((e) => e.props?.['reason'])).toEqual(['ScopeMalformed', 'ScopeNotAllowed']);
      const metrics = t.telemetry.metrics.filter((m) => m.name === 'BrokerTokensDenied');
      expect(metrics.map((m) => m.props?.['reason'])).toEqual(['ScopeMalformed', 'ScopeNotAllowed']);
    });

    it('answers 503 with Retry-After naming the upstream failure class', async () => {
      // Prepare
      t.aml.behaviour = { kind: 'error', error: Object.assign(new Error('throttled'), { statusCode: 429 }) };

      // Act
      const r = await t.module.amlToken.handle(
        post('demo-token', { authorization: basicAuth(c.id, c.primary) }),
        'i',
      );

      // Assess
      expect(r.status).toBe(503);
      expect(jsonOf(r)['code']).toBe('UpstreamUnavailable');
      expect(jsonOf(r)['detail']).toContain('amlToken failed (throttled)');
      expect((r.headers as Record<string, string>)['retry-after']).toBe('2');
    });
  });
});
