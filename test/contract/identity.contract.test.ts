import type { RunningEmulators } from '../../local/emulators';
import { call, withEmulators } from '../support/emulators';
import { fixture, headerMismatches, type RecordedEntry, Replayer, shapeMismatches } from './replay';

// App Service fixtures only: the IMDS recordings describe another protocol the app never uses.
const FILES = [
  'appservice-msi-2017-09-01-system-assigned-token-python-recording.json',
  'appservice-msi-2019-08-01-token-docs-example.json',
  'appservice-msi-2019-08-01-user-assigned-token-python-recording.json',
];

let em: RunningEmulators;

beforeAll(async () => {
  em = await withEmulators();
  em.control.addUserAssignedIdentity('client-id');
});

afterAll(async () => {
  await em.stop();
});

function headersFor(entry: RecordedEntry): Record<string, string> {
  const apiVersion = /api-version=([\d-]+)/.exec(entry.RequestUri)?.[1];
  // SOURCES.md: the 2019-08-01 python recording was hand-edited and still sends `secret`; the
  // 2019-08-01 protocol's header is X-IDENTITY-HEADER, which is what is replayed.
  return apiVersion === '2017-09-01'
    ? { secret: em.identityHeader }
    : { 'x-identity-header': em.identityHeader };
}

describe('Contract: managed identity stand-in replays the App Service exchanges', () => {
  it.each(FILES)('%s', async (file) => {
    // Prepare
    const { Entries } = fixture<{ Entries: RecordedEntry[] }>(`identity/${file}`);
    const replayer = new Replayer(
      { 'https://msi-endpoint/token': em.identityEndpoint, '/MSI/token': `${em.url}/MSI/token` },
      () => undefined,
    );
    for (const entry of Entries) {
      // Act
      const actual = await replayer.send(entry, headersFor(entry));
      // Assess
      expect(actual.status).toBe(entry.StatusCode);
      expect(headerMismatches(entry.ResponseHeaders, actual.headers)).toEqual([]);
      expect(shapeMismatches(entry.ResponseBody, actual.json)).toEqual([]);
      const body = actual.json as { expires_on: string; access_token: string };
      const recorded = entry.ResponseBody as { expires_on: string };
      // expires_on keeps the recorded format: epoch seconds (2019-08-01) or a date string (2017-09-01).
      expect(/^\d+$/.test(body.expires_on)).toBe(/^\d+$/.test(recorded.expires_on));
      expect(body.access_token.split('.')).toHaveLength(3);
    }
  });
});

describe('Contract: managed identity stand-in refusals', () => {
  const url = (query: string): string => `${em?.identityEndpoint}?api-version=2019-08-01&${query}`;

  it('refuses a missing or wrong X-IDENTITY-HEADER with the App Service error shape', async () => {
    // Act
    const missing = await call(url('resource=https://vault.azure.net'));
    const wrong = await call(url('resource=https://vault.azure.net'), {
      headers: { 'x-identity-header': 'nope' },
    });
    // Assess
    for (const answer of [missing, wrong]) {
      expect(answer.status).toBe(401);
      expect(answer.json).toEqual({
        statusCode: 401,
        message: expect.stringContaining('X-IDENTITY-HEADER') as unknown,
        correlationId: expect.any(String) as unknown,
      });
    }
  });

  it('requires resource and refuses unknown user-assigned identities with 400', async () => {
    // Prepare
    const headers = { 'x-identity-header': em.identityHeader };
    // Act
    const noResource = await call(url(''), { headers });
    const unknown = await call(url('resource=https://vault.azure.net&client_id=unknown'), { headers });
    const byPrincipal = await call(
      url(
        `resource=https://vault.azure.net&principal_id=${em.control.addUserAssignedIdentity('client-id').principalId}`,
      ),
      { headers },
    );
    // Assess
    expect(noResource.status).toBe(400);
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({
      statusCode: 400,
      message: 'Unable to load the proper Managed Identity.',
    });
    expect(byPrincipal.json).toMatchObject({ client_id: 'client-id', resource: 'https://vault.azure.net' });
  });

  it('echoes the requested resource exactly and strips the trailing slash only in aud', async () => {
    // Act
    const answer = await call(url('resource=https%3A%2F%2Fml.azure.com%2F'), {
      headers: { 'x-identity-header': em.identityHeader },
    });
    const body = answer.json as { resource: string; access_token: string; expires_on: string };
    const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1] ?? '', 'base64url').toString()) as {
      aud: string;
      exp: number;
    };
    // Assess
    expect(body.resource).toBe('https://ml.azure.com/');
    expect(claims.aud).toBe('https://ml.azure.com');
    expect(String(claims.exp)).toBe(body.expires_on);
  });
});
