import { HttpRequest } from '@azure/functions';

import { buildTestBroker, type TestBroker, type TestClient } from '../../fakes/broker/buildTestBroker';
import { jsonOf } from '../../support/httpParts';

function get(query: string, headers: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({ method: 'GET', url: `http://localhost/api/msi/token?${query}`, headers });
}

describe('Class: MsiTokenProtocol', () => {
  let t: TestBroker;
  let c: TestClient;
  beforeEach(async () => {
    t = buildTestBroker();
    c = await t.addClient({ allowedScopes: ['demo-token', 'https://ml.azure.com'] });
  });

  describe('Method: handle', () => {
    it('answers the App Service shape, echoing the resource exactly as asked', async () => {
      // Act
      const r = await t.module.msi.handle(
        get(
          `api-version=2019-08-01&resource=${encodeURIComponent('https://ml.azure.com/')}&client_id=${c.id}`,
          {
            'x-identity-header': c.primary,
          },
        ),
        'corr-1',
      );

      // Assess
      expect(r.status).toBe(200);
      expect(jsonOf(r)).toEqual({
        access_token: 'managedIdentity-token-1',
        expires_on: String(Math.floor(t.clock.now() / 1000) + 3600),
        resource: 'https://ml.azure.com/',
        token_type: 'Bearer',
        client_id: c.id,
      });
    });

    it('accepts an endpoint id as resource', async () => {
      // Act
      const r = await t.module.msi.handle(
        get(`api-version=2019-08-01&resource=demo-token&client_id=${c.id}`, {
          'x-identity-header': c.primary,
        }),
        'corr-2',
      );

      // Assess
      expect(jsonOf(r)['access_token']).toBe('amlToken-token-1');
      expect(jsonOf(r)['resource']).toBe('demo-token');
    });

    it.each([
      ['a missing api-version', 'resource=demo-token', 400],
      ['another api-version', 'api-version=2017-09-01&resource=demo-token', 400],
      ['a missing resource', 'api-version=2019-08-01', 400],
      [
        'mi_res_id instead of client_id',
        'api-version=2019-08-01&resource=demo-token&mi_res_id=%2Fsubscriptions%2Fx',
        400,
      ],
    ])('answers %s with %i in the App Service error shape', async (_name, query, status) => {
      // Act
      const r = await t.module.msi.handle(
        get(`${query}&client_id=${c.id}`, { 'x-identity-header': c.primary }),
        'corr-3',
      );

      // Assess
      expect(r.status).toBe(status);
      expect(Object.keys(jsonOf(r)).sort()).toEqual(['correlationId', 'message', 'statusCode']);
      expect(jsonOf(r)).toMatchObject({ statusCode: status, correlationId: 'corr-3' });
      expect(typeof jsonOf(r)['message']).toBe('string');
    });

    it('answers 401 without X-IDENTITY-HEADER, with a wrong secret, or without a client id', async () => {
      // Act
      const none = await t.module.msi.handle(
        get(`api-version=2019-08-01&resource=demo-token&client_id=${c.id}`),
        'c',
      );
      const wrong = await t.module.msi.handle(
        get(`api-version=2019-08-01&resource=demo-token&client_id=${c.id}`, { 'x-identity-header': 'nope' }),
        'c',
      );
      const noId = await t.module.msi.handle(
        get('api-version=2019-08-01&resource=demo-token', { 'x-identity-header': c.primary }),
        'c',
      );

      // Assess
      expect([none.status, wrong.status, noId.status]).toEqual([401, 401, 401]);
    });

    it.each([
      ['an empty client id before the ":"', `:secret`, `&client_id=client-1`],
      ['an empty client id and no client_id', `:secret`, ''],
      ['only a ":"', ':', ''],
    ])(
      'answers an X-IDENTITY-HEADER with %s with 401 in its own shape, without a Basic challenge',
      async (_name, identity, clientId) => {
        // Act
        const r = await t.module.msi.handle(
          get(`api-version=2019-08-01&resource=demo-token${clientId}`, { 'x-identity-header': identity }),
          'c',
        );

        // Assess
        expect(r.status).toBe(401);
        expect(jsonOf(r)).toMatchObject({ statusCode: 401, correlationId: 'c' });
        expect((r.headers as Record<string, string>)['www-authenticate']).toBeUndefined();
      },
    );

    it('audits and counts a request refused before the broker, with the client and resource it presented', async () => {
      // Act
      const refusals = [
        await t.module.msi.handle(
          get(`resource=demo-token&client_id=${c.id}`, { 'x-identity-header': c.primary }),
          'c',
        ),
        await t.module.msi.handle(get(`api-version=2019-08-01&client_id=${c.id}`), 'c'),
        await t.module.msi.handle(get(`api-version=2019-08-01&resource=demo-token&client_id=${c.id}`), 'c'),
        await t.module.msi.handle(
          get('api-version=2019-08-01&resource=demo-token', { 'x-identity-header': `${c.id}:wrong` }),
          'c',
        ),
        await t.module.msi.handle(
          get('api-version=2019-08-01&resource=demo-token&object_id=x', { 'x-identity-header': `${c.id}:s` }),
          'c',
        ),
      ];

      // Assess: one denial each, the last but one from the broker (a wrong secret)
      expect(refusals.map((r) => r.status)).toEqual([400, 400, 401, 401, 400]);
      const denied = t.audit.entries.map(({ timeMs: _time, ...entry }) => entry);
      expect(denied).toEqual([
        { clientId: c.id, scope: 'demo-token', protocol: 'msi', outcome: 'denied', reason: 'BadRequest' },
        { clientId: c.id, scope: '', protocol: 'msi', outcome: 'denied', reason: 'BadRequest' },
        { clientId: c.id, scope: 'demo-token', protocol: 'msi', outcome: 'denied', reason: 'InvalidClient' },
        { clientId: c.id, scope: 'demo-token', protocol: 'msi', outcome: 'denied', reason: 'InvalidClient' },
        { clientId: c.id, scope: 'demo-token', protocol: 'msi', outcome: 'denied', reason: 'BadRequest' },
      ]);
      expect(t.telemetry.events.filter((e) => e.name === 'TokenDenied')).toHaveLength(5);
      expect(t.audit.text()).not.toContain(c.primary);
    });

    it.each([
      ['an http resource URI', 'http://ml.azure.com'],
      ['a resource URI with a query', 'https://ml.azure.com?x=1'],
      ['a non-URI that is no endpoint id', 'Demo_Token'],
      ['two resources', 'demo-token https://ml.azure.com'],
      ['a resource over 512 characters', `https://ml.azure.com/${'a'.repeat(600)}`],
    ])('answers %s with 400 in the App Service error shape, not 403', async (_name, resource) => {
      // Act
      const r = await t.module.msi.handle(
        get(`api-version=2019-08-01&resource=${encodeURIComponent(resource)}&client_id=${c.id}`, {
          'x-identity-header': c.primary,
        }),
        'corr-4',
      );

      // Assess
      expect(r.status).toBe(400);
      expect(Object.keys(jsonOf(r)).sort()).toEqual(['correlationId', 'message', 'statusCode']);
      expect(jsonOf(r)).toMatchObject({ statusCode: 400, correlationId: 'corr-4' });
    });

    it('audits a malformed resource as ScopeMalformed, and still authenticates first', async () => {
      // Act
      const malformed = await t.module.msi.handle(
        get(`api-version=2019-08-01&resource=Demo_Token&client_id=${c.id}`, {
          'x-identity-header': c.primary,
        }),
        'c',
      );
      const wrongSecret = await t.module.msi.handle(
        get(`api-version=2019-08-01&resource=Demo_Token&client_id=${c.id}`, { 'x-identity-header': 'nope' }),
        'c',
      );

      // Assess: the audit reason tells the typo from a refused grant (ScopeNotAllowed)
      expect([malformed.status, wrongSecret.status]).toEqual([400, 401]);
      expect(t.audit.entries.map((e) => e.reason)).toEqual(['ScopeMalformed', 'InvalidClient']);
    });

    it.each([
      ['a resource URI not on its allow-list', 'https://ml.azure.net'],
      ['an endpoint id not on its allow-list', 'other-endpoint'],
      ['an endpoint id on its allow-list that names no endpoint', 'no-such-endpoint'],
    ])('keeps 403 for %s: well-formed, but refused', async (_name, resource) => {
      // Prepare
      const asker = await t.addClient({ allowedScopes: ['demo-token', 'no-such-endpoint'] });

      // Act
      const r = await t.module.msi.handle(
        get(`api-version=2019-08-01&resource=${encodeURIComponent(resource)}&client_id=${asker.id}`, {
          'x-identity-header': asker.primary,
        }),
        'c',
      );

      // Assess
      expect(r.status).toBe(403);
      expect(jsonOf(r)).toMatchObject({ statusCode: 403, correlationId: 'c' });
    });

    it('answers 403 for a resource the client may not request', async () => {
      // Act
      const r = await t.module.msi.handle(
        get(`api-version=2019-08-01&resource=https://vault.azure.net&client_id=${c.id}`, {
          'x-identity-header': c.primary,
        }),
        'c',
      );

      // Assess
      expect(r.status).toBe(403);
    });

    it('answers 503 with Retry-After naming the upstream failure', async () => {
      // Prepare
      t.mi.behaviour = {
        kind: 'error',
        error: Object.assign(new Error('x'), { name: 'CredentialUnavailableError' }),
      };

      // Act
      const r = await t.module.msi.handle(
        get(`api-version=2019-08-01&resource=https://ml.azure.com&client_id=${c.id}`, {
          'x-identity-header': c.primary,
        }),
        'c',
      );

      // Assess
      expect(r.status).toBe(503);
      expect(jsonOf(r)['message']).toContain('managedIdentity failed (credentialUnavailable)');
      expect((r.headers as Record<string, string>)['retry-after']).toBe('2');
    });
  });
});
