import { buildTestBroker, type TestBroker, type TestClient } from '../../fakes/broker/buildTestBroker';
import {
  runDefaultCredentialClient,
  runMsiClient,
  runOAuthClient,
} from '../../fakes/broker/offTheShelfClients';
import { serveBroker, type ServedBroker } from '../../fakes/broker/serveBroker';

describe('Protocols with off-the-shelf clients', () => {
  let t: TestBroker;
  let served: ServedBroker;
  let c: TestClient;

  beforeAll(async () => {
    t = buildTestBroker({}, { startMs: Date.now() });
    served = await serveBroker(t.module);
    c = await t.addClient({ allowedScopes: ['demo-token', 'https://ml.azure.com'] });
  });
  afterAll(async () => {
    await served.close();
  });

  describe('oauth4webapi: client credentials grant', () => {
    it('gets a token with client_secret_basic', async () => {
      // Act
      const result = await runOAuthClient(served.url, 'basic', c.id, c.primary, 'demo-token');

      // Assess
      expect(result.ok).toBe(true);
      expect(result.token).toMatchObject({
        access_token: 'amlToken-token-1',
        token_type: 'bearer',
        scope: 'demo-token',
      });
      expect(result.token?.expires_in).toBeGreaterThan(3000);
    });

    it('gets a token with client_secret_post and the /.default form of a resource', async () => {
      // Act
      const result = await runOAuthClient(
        served.url,
        'post',
        c.id,
        c.secondary,
        'https://ml.azure.com/.default',
      );

      // Assess
      expect(result.ok).toBe(true);
      expect(result.token?.access_token).toBe('managedIdentity-token-1');
    });

    it('sees invalid_client with WWW-Authenticate for a wrong secret over Basic', async () => {
      // Act
      const result = await runOAuthClient(served.url, 'basic', c.id, 'wrong', 'demo-token');

      // Assess
      expect(result).toMatchObject({ ok: false, error: 'invalid_client', status: 401 });
      expect(result.wwwAuthenticate).toMatch(/^Basic realm=/);
      expect(result.challenges?.[0]?.scheme).toBe('basic');
    });

    it('sees invalid_scope for a scope the client may not request', async () => {
      // Act
      const result = await runOAuthClient(served.url, 'post', c.id, c.primary, 'demo-aad');

      // Assess
      expect(result).toMatchObject({ ok: false, error: 'invalid_scope', status: 400 });
    });
  });

  describe('@azure/identity ManagedIdentityCredential (App Service source)', () => {
    it('gets a token with IDENTITY_ENDPOINT/IDENTITY_HEADER and client_id, cached by MSAL afterwards', async () => {
      // Prepare
      const env = { IDENTITY_ENDPOINT: `${served.url}/api/msi/token`, IDENTITY_HEADER: c.primary };
      const miCallsBefore = t.mi.calls;
      const auditBefore = t.audit.entries.length;

      // Act
      const result = await runMsiClient(env, 'https://ml.azure.com/.default', c.id, 3);

      // Assess
      expect(result.ok).toBe(true);
      expect(result.tokens?.map((x) => x.token)).toEqual(Array(3).fill('managedIdentity-token-1'));
      expect(result.tokens?.[0]?.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000_000);
      // MSAL caches under the echoed resource: three getToken calls, one broker request.
      expect(t.audit.entries.length - auditBefore).toBe(1);
      expect(t.mi.calls).toBe(miCallsBefore);
    });

    it('works without client_id (system-assigned style) with IDENTITY_HEADER = <clientId>:<secret>', async () => {
      // Prepare
      const env = {
        IDENTITY_ENDPOINT: `${served.url}/api/msi/token`,
        IDENTITY_HEADER: `${c.id}:${c.secondary}`,
      };

      // Act
      const result = await runMsiClient(env, 'demo-token/.default');

      // Assess
      expect(result.ok).toBe(true);
      expect(result.tokens?.[0]?.token).toBe('amlToken-token-1');
    });

    it('takes the client id from AZURE_CLIENT_ID with DefaultAzureCredential, as docs/clients.md says', async () => {
      // Prepare: the bare ManagedIdentityCredential does not read AZURE_CLIENT_ID; DefaultAzureCredential does.
      const env = {
        IDENTITY_ENDPOINT: `${served.url}/api/msi/token`,
        IDENTITY_HEADER: c.primary,
        AZURE_CLIENT_ID: c.id,
      };

      // Act
      const viaDefault = await runDefaultCredentialClient(env, 'demo-token/.default');
      const viaBare = await runMsiClient(env, 'demo-token/.default');

      // Assess
      expect(viaDefault.ok).toBe(true);
      expect(viaDefault.tokens?.[0]?.token).toBe('amlToken-token-1');
      expect(viaBare.ok).toBe(false);
      expect(viaBare.message).toContain('A client_id is required with X-IDENTITY-HEADER');
    });

    it('fails fast with a wrong secret', async () => {
      // Prepare
      const env = { IDENTITY_ENDPOINT: `${served.url}/api/msi/token`, IDENTITY_HEADER: 'wrong' };

      // Act
      const result = await runMsiClient(env, 'https://ml.azure.com/.default', c.id);

      // Assess
      expect(result.ok).toBe(false);
      expect(result.message).toContain('Client authentication failed');
    });
  });
});
