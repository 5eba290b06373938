import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import type { RunningEmulators } from '../../local/emulators';
import { call, withEmulators } from '../support/emulators';
import { fixture, headerMismatches, type RecordedEntry, Replayer, shapeMismatches } from './replay';

const FILES = readdirSync(join(__dirname, '..', 'fixtures', 'azure', 'keyvault')).filter((f) =>
  f.endsWith('.json'),
);

let em: RunningEmulators;
let token: string;

beforeAll(async () => {
  em = await withEmulators();
  const answer = await call(
    `${em.identityEndpoint}?api-version=2019-08-01&resource=https://vault.azure.net`,
    { headers: { 'x-identity-header': em.identityHeader } },
  );
  token = (answer.json as { access_token: string }).access_token;
});

afterAll(async () => {
  await em.stop();
});

describe('Contract: Key Vault secrets stand-in replays the recorded exchanges', () => {
  it('covers every recorded Key Vault fixture', () => {
    // Assess
    expect(FILES).toHaveLength(10);
  });

  it.each(FILES)('%s', async (file) => {
    // Prepare: recorded vault hosts become the emulator; a recorded Authorization header becomes our token.
    const { Entries } = fixture<{ Entries: RecordedEntry[] }>(join('keyvault', file));
    const replayer = new Replayer(
      { 'https://keyvault_name.vault.azure.net': em.url, 'https://heathskeyvault.vault.azure.net': em.url },
      (entry) => ('Authorization' in entry.RequestHeaders ? `Bearer ${token}` : undefined),
    );
    for (const [i, entry] of Entries.entries()) {
      // Act
      const actual = await replayer.send(entry);
      // Assess
      const label = `${file}#${i} ${entry.RequestMethod}`;
      expect({ label, status: actual.status }).toEqual({ label, status: entry.StatusCode });
      expect({ label, headers: headerMismatches(entry.ResponseHeaders, actual.headers) }).toEqual({
        label,
        headers: [],
      });
      const body = shapeMismatches(entry.ResponseBody, actual.json, { map: replayer.map, sameLength: true });
      expect({ label, body }).toEqual({ label, body: [] });
    }
  });
});

describe('Contract: Key Vault stand-in behaviour the fixtures imply', () => {
  it('answers a token for another audience with 401 and the challenge', async () => {
    // Prepare
    const arm = await call(
      `${em.identityEndpoint}?api-version=2019-08-01&resource=https://management.azure.com`,
      { headers: { 'x-identity-header': em.identityHeader } },
    );
    // Act
    const answer = await call(`${em.url}/secrets/x/?api-version=7.6`, {
      headers: { authorization: `Bearer ${(arm.json as { access_token: string }).access_token}` },
    });
    // Assess
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toBe(
      `Bearer authorization="https://login.windows.net/${em.tenantId}", resource="https://vault.azure.net"`,
    );
    expect(answer.json).toEqual({
      error: {
        code: 'Unauthorized',
        message:
          'AKV10022: Invalid audience. Expected https://vault.azure.net, found: https://management.azure.com.',
      },
    });
  });

  it('accepts the percent-encoded api%2Dversion the SDK sends and pages the list of secrets', async () => {
    // Prepare
    for (const n of ['list-a', 'list-b', 'list-c']) {
      await call(`${em.url}/secrets/${n}?api%2Dversion=2025-07-01`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{"value":"v","attributes":{}}',
      });
    }
    // Act: follow nextLink verbatim, as the SDK does.
    const ids: string[] = [];
    const pageSizes: number[] = [];
    let next: string | null = `${em.url}/secrets?api%2Dversion=2025-07-01&maxresults=2`;
    while (next) {
      const page = await call(next, { headers: { authorization: `Bearer ${token}` } });
      const body = page.json as { value: Array<{ id: string }>; nextLink: string | null };
      ids.push(...body.value.map((v) => v.id));
      pageSizes.push(body.value.length);
      next = body.nextLink;
    }
    // Assess
    expect(pageSizes.every((n) => n <= 2)).toBe(true);
    expect(pageSizes.length).toBeGreaterThan(1);
    expect(ids).toEqual(
      expect.arrayContaining(['list-a', 'list-b', 'list-c'].map((n) => `${em.url}/secrets/${n}`)),
    );
  });
});

describe('Contract: Key Vault stand-in soft delete', () => {
  it('refuses to set a secret whose deleted version is still recoverable (409) until it is purged', async () => {
    // Prepare: every vault has soft delete on; a deleted name stays taken until it is recovered or purged.
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const put = (): ReturnType<typeof call> =>
      call(`${em.url}/secrets/soft-deleted?api-version=7.6`, {
        method: 'PUT',
        headers: auth,
        body: '{"value":"v2"}',
      });
    await call(`${em.url}/secrets/soft-deleted?api-version=7.6`, {
      method: 'PUT',
      headers: auth,
      body: '{"value":"v1"}',
    });
    await call(`${em.url}/secrets/soft-deleted?api-version=7.6`, { method: 'DELETE', headers: auth });
    // Act
    const refused = await put();
    await call(`${em.url}/deletedsecrets/soft-deleted?api-version=7.6`, { method: 'DELETE', headers: auth });
    const accepted = await put();
    // Assess: the recorded Key Vault answer (Conflict, innererror ObjectIsDeletedButRecoverable).
    expect(refused.status).toBe(409);
    expect(refused.json).toEqual({
      error: {
        code: 'Conflict',
        message:
          'Secret soft-deleted is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.',
        innererror: { code: 'ObjectIsDeletedButRecoverable' },
      },
    });
    expect(accepted.status).toBe(200);
  });
});

describe('Contract: Key Vault stand-in answers requests it cannot parse', () => {
  it('answers a malformed percent-escape in the path with 400, as Azure does, instead of dropping the connection', async () => {
    // Act: a dropped connection reads as an outage to the SDK (retried), where Azure answers a definite 400.
    const answer = await call(`${em.url}/secrets/a%zz?api-version=7.6`, {
      headers: { authorization: `Bearer ${token}` },
    });
    // Assess
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({ error: { code: 'BadRequest', message: expect.any(String) as unknown } });
  });

  it('answers a body over the stand-in limit with 413 instead of dropping the connection', async () => {
    // Act
    const answer = await call(`${em.url}/secrets/too-big?api-version=7.6`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'x'.repeat(2 * 1024 * 1024) }),
    });
    // Assess
    expect(answer.status).toBe(413);
  });
});
