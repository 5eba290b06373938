import { HttpRequest, InvocationContext } from '@azure/functions';

import { manageClientHandler } from '../../../functions/manageClient';
import { manageClientsHandler } from '../../../functions/manageClients';
import { manageClientSecretHandler } from '../../../functions/manageClientSecret';
import { buildTestBroker } from '../../fakes/broker/buildTestBroker';
import { bodyOf } from '../../support/httpParts';

const context = new InvocationContext({ invocationId: 'admin', logHandler: () => undefined });

describe('Admin functions: manage/clients', () => {
  it('create answers 201 with both secrets once; list and get show neither', async () => {
    // Prepare
    const t = buildTestBroker();
    const clients = manageClientsHandler(() => t.module);
    const client = manageClientHandler(() => t.module);

    // Act
    const created = await clients(
      new HttpRequest({
        method: 'POST',
        url: 'http://l/api/manage/clients',
        body: {
          string: JSON.stringify({ id: 'legacy-app', displayName: 'Legacy', allowedScopes: ['demo-token'] }),
        },
      }),
      context,
    );
    const listed = await clients(
      new HttpRequest({ method: 'GET', url: 'http://l/api/manage/clients' }),
      context,
    );
    const one = await client(
      new HttpRequest({
        method: 'GET',
        url: 'http://l/api/manage/clients/legacy-app',
        params: { id: 'legacy-app' },
      }),
      context,
    );

    // Assess
    expect(created.status).toBe(201);
    expect((created.headers as Record<string, string>)['location']).toBe('/api/manage/clients/legacy-app');
    const { primarySecret, secondarySecret } = bodyOf(created) as {
      primarySecret: string;
      secondarySecret: string;
    };
    expect(primarySecret).toHaveLength(43);
    expect(listed.status).toBe(200);
    for (const r of [listed, one]) {
      const text = JSON.stringify(bodyOf(r));
      expect(text).not.toContain(primarySecret);
      expect(text).not.toContain(secondarySecret);
      expect(text).not.toMatch(/Hash/);
    }
    expect((bodyOf(one)['client'] as { id: string }).id).toBe('legacy-app');
  });

  it('patch disables, the secret route regenerates one slot, delete answers 204, bad input 400/404', async () => {
    // Prepare
    const t = buildTestBroker();
    const c = await t.addClient();
    const client = manageClientHandler(() => t.module);
    const secret = manageClientSecretHandler(() => t.module);

    // Act
    const patched = await client(
      new HttpRequest({
        method: 'PATCH',
        url: 'http://l',
        params: { id: c.id },
        body: { string: '{"enabled":false}' },
      }),
      context,
    );
    const regenerated = await secret(
      new HttpRequest({ method: 'POST', url: 'http://l', params: { id: c.id, slot: 'secondary' } }),
      context,
    );
    const badSlot = await secret(
      new HttpRequest({ method: 'POST', url: 'http://l', params: { id: c.id, slot: 'tertiary' } }),
      context,
    );
    const badPatch = await client(
      new HttpRequest({
        method: 'PATCH',
        url: 'http://l',
        params: { id: c.id },
        body: { string: '{"enabled":"no"}' },
      }),
      context,
    );
    const deleted = await client(
      new HttpRequest({ method: 'DELETE', url: 'http://l', params: { id: c.id } }),
      context,
    );
    const missing = await client(
      new HttpRequest({ method: 'GET', url: 'http://l', params: { id: c.id } }),
      context,
    );

    // Assess
    expect((bodyOf(patched)['client'] as { enabled: boolean }).enabled).toBe(false);
    expect(regenerated.status).toBe(200);
    expect(bodyOf(regenerated)['slot']).toBe('secondary');
    expect(bodyOf(regenerated)['secret']).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(badSlot.status).toBe(400);
    expect(badPatch.status).toBe(400);
    expect(deleted.status).toBe(204);
    expect(missing.status).toBe(404);
  });

  it('refuses a body that is not UTF-8 with 400 naming body, rather than storing U+FFFD in its place', async () => {
    // Prepare: a display name with a byte that is no UTF-8 (Latin-1 é), and one with a BOM, which is fine
    const t = buildTestBroker();
    const clients = manageClientsHandler(() => t.module);
    const post = (bytes: Buffer) =>
      clients(
        new HttpRequest({ method: 'POST', url: 'http://l/api/manage/clients', body: { bytes } }),
        context,
      );
    const json = '{"id":"latin-app","displayName":"Caf\xe9","allowedScopes":["demo-token"]}';

    // Act
    const latin1 = await post(Buffer.from(json, 'latin1'));
    const listed = await clients(
      new HttpRequest({ method: 'GET', url: 'http://l/api/manage/clients' }),
      context,
    );
    const withBom = await post(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json, 'utf8')]));

    // Assess
    expect(latin1.status).toBe(400);
    expect(bodyOf(latin1)).toMatchObject({
      code: 'ValidationFailed',
      errors: [{ field: 'body', message: 'must be UTF-8' }],
    });
    expect(bodyOf(listed)['value']).toEqual([]);
    expect(withBom.status).toBe(201);
    expect((bodyOf(withBom)['client'] as { displayName: string }).displayName).toBe('Caf\u00e9');
  });

  it('lists a page at a time and follows nextLink to the last page; a tampered $skipToken is a 400', async () => {
    // Prepare: 12 clients; storage answering 2 at most, as Table storage may while rows are left
    const t = buildTestBroker();
    const clients = manageClientsHandler(() => t.module);
    const ids = Array.from({ length: 12 }, (_, i) => `client-${String(11 - i).padStart(2, '0')}`);
    for (const id of ids) await t.module.admin.create({ id, displayName: id, allowedScopes: ['demo-token'] });
    t.registry.serverPageLimit = 2;

    // Act
    const seen: string[] = [];
    const links: string[] = [];
    let next: string | undefined = 'http://l/api/manage/clients?$top=5';
    while (next !== undefined && links.length < 50) {
      const answer = bodyOf(await clients(new HttpRequest({ method: 'GET', url: next }), context));
      seen.push(...(answer['value'] as Array<{ id: string }>).map((c) => c.id));
      next = answer['nextLink'] as string | undefined;
      if (next) links.push(next);
    }
    const tampered = await clients(
      new HttpRequest({ method: 'GET', url: `${links[0]!.slice(0, -4)}AAAA` }),
      context,
    );

    // Assess
    expect(seen).toEqual([...ids].sort());
    expect(links.length).toBe(5);
    expect(tampered.status).toBe(400);
    expect(bodyOf(tampered)).toMatchObject({ code: 'ValidationFailed', errors: [{ field: '$skipToken' }] });
  });

  it('builds Location and nextLink on ADMIN_PUBLIC_BASE_URL when a gateway fronts the app', async () => {
    // Prepare
    const t = buildTestBroker();
    await t.addClient({ id: 'first-app' });
    const base = 'https://apim.contoso.com/aml-broker';
    const clients = manageClientsHandler(() => ({ admin: t.module.admin, publicBaseUrl: base }));

    // Act
    const created = await clients(
      new HttpRequest({
        method: 'POST',
        url: 'https://func-internal.azurewebsites.net/api/manage/clients',
        body: {
          string: JSON.stringify({ id: 'second-app', displayName: 'x', allowedScopes: ['demo-token'] }),
        },
      }),
      context,
    );
    const listed = await clients(
      new HttpRequest({
        method: 'GET',
        url: 'https://func-internal.azurewebsites.net/api/manage/clients?$top=1',
      }),
      context,
    );

    // Assess
    expect((created.headers as Record<string, string>)['location']).toBe(`${base}/manage/clients/second-app`);
    expect(String(bodyOf(listed)['nextLink'])).toMatch(
      /^https:\/\/apim\.contoso\.com\/aml-broker\/manage\/clients\?\$top=1&\$skipToken=/,
    );
  });
});
