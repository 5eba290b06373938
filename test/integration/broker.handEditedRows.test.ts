import { TableClient } from '@azure/data-tables';
import { HttpRequest, InvocationContext } from '@azure/functions';

import { manageClientHandler } from '../../functions/manageClient';
import { manageClientsHandler } from '../../functions/manageClients';
import { manageClientSecretHandler } from '../../functions/manageClientSecret';
import { type RunningAzurite, startAzurite } from '../../local/azurite';
import { BrokerClientAdminService } from '../../shared/broker/BrokerClientAdminService';
import { ClientAuthenticator } from '../../shared/broker/ClientAuthenticator';
import { ClientRecordUnreadableError, InvalidClientError } from '../../shared/broker/errors';
import { SecretHasher } from '../../shared/broker/SecretHasher';
import { TableBrokerClientRegistry } from '../../shared/broker/TableBrokerClientRegistry';
import { systemClock } from '../../shared/clock';
import { CapturingLogger } from '../fakes/capture';
import { bodyOf } from '../support/httpParts';

const hasher = new SecretHasher('integration-pepper-0123456789-abcdefghij');
const context = new InvocationContext({ invocationId: 'hand-edited', logHandler: () => undefined });
/** A secret pasted by hand where the scopes go: no answer or log line may show it. */
const PASTED = 'pasted-by-hand-0123456789abcdefghijklmnopq';

/**
 * Broker client rows edited by hand (as in Storage Explorer), written with the Tables SDK into what this
 * version does not write, then read through the real registry, the admin routes and the authenticator.
 */
describe('Broker client rows edited by hand (Azurite)', () => {
  let azurite: RunningAzurite;
  let table: TableClient;
  let admin: BrokerClientAdminService;
  let registry: TableBrokerClientRegistry;
  const logger = new CapturingLogger();
  const secrets = new Map<string, string>();

  /** Creates a client through the admin service, then edits its row: `Merge` changes only the columns given. */
  async function editedByHand(id: string, edit: Record<string, unknown>): Promise<void> {
    const { primarySecret } = await admin.create({ id, displayName: id, allowedScopes: ['demo-token'] });
    secrets.set(id, primarySecret);
    await table.updateEntity({ partitionKey: 'client', rowKey: id, ...edit }, 'Merge');
  }

  beforeAll(async () => {
    azurite = await startAzurite();
    table = TableClient.fromConnectionString(azurite.connectionString, 'handEditedClients', {
      allowInsecureConnection: true,
      retryOptions: { retryDelayInMs: 10 },
    });
    registry = new TableBrokerClientRegistry({ table, logger });
    admin = new BrokerClientAdminService({ registry, hasher, clock: systemClock, logger });
    await editedByHand('scopes-not-json', { allowedScopes: PASTED });
    await editedByHand('enabled-as-text', { enabled: { value: 'true', type: 'String' } });
    await editedByHand('rate-as-text', { rateLimitPerMinute: { value: '120', type: 'String' } });
    await editedByHand('rate-int64', { rateLimitPerMinute: { value: '120', type: 'Int64' } });
    await editedByHand('expiry-datetime', { expiresAt: { value: '2099-01-01T00:00:00Z', type: 'DateTime' } });
    // Storage Explorer's "Replace" of a row with only some of its columns: the hashes are gone
    const { primarySecret } = await admin.create({
      id: 'no-hashes',
      displayName: 'x',
      allowedScopes: ['demo-token'],
    });
    secrets.set('no-hashes', primarySecret);
    const {
      primarySecretHash: _p,
      secondarySecretHash: _s,
      ...rest
    } = await table.getEntity('client', 'no-hashes');
    await table.updateEntity({ ...rest, partitionKey: 'client', rowKey: 'no-hashes' }, 'Replace');
  }, 60_000);

  afterAll(async () => {
    await azurite?.stop();
  });

  const clientApi = manageClientHandler(() => ({ admin }));
  const secretApi = manageClientSecretHandler(() => ({ admin }));
  const listApi = manageClientsHandler(() => ({ admin }));
  const call = (method: string, path: string, json?: unknown) =>
    new HttpRequest({
      method,
      url: `http://localhost:7071/api/manage/clients${path}`,
      params: Object.fromEntries(
        Object.entries({ id: path.split('/')[1], slot: path.split('/')[3] }).filter(
          ([, v]) => v !== undefined,
        ),
      ) as Record<string, string>,
      ...(json !== undefined
        ? { body: { string: JSON.stringify(json) }, headers: { 'content-type': 'application/json' } }
        : {}),
    });

  it.each([
    ['scopes-not-json', ['allowedScopes']],
    ['enabled-as-text', ['enabled']],
    ['rate-as-text', ['rateLimitPerMinute']],
    ['no-hashes', ['primarySecretHash', 'secondarySecretHash']],
  ])('reads %s as unreadable, naming %j, rather than as another client', async (id, fields) => {
    // Act
    const error = await registry.get(id).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ClientRecordUnreadableError);
    expect(error).toMatchObject({ clientId: id, fields });
  });

  it('reads a rate limit typed Int64 as its integer and a DateTime expiry as its time, and writes them back as it writes its own', async () => {
    // Act
    const rate = await admin.get('rate-int64');
    const expiry = await admin.get('expiry-datetime');
    await admin.update('rate-int64', { displayName: 'renamed' });

    // Assess
    expect(rate.rateLimitPerMinute).toBe(120);
    expect(expiry.expiresAt).toBe('2099-01-01T00:00:00.000Z');
    expect(await admin.get('rate-int64')).toMatchObject({ displayName: 'renamed', rateLimitPerMinute: 120 });
  });

  it('answers GET, PATCH, a disable, a secret regeneration and a create of its id with 409 CLIENT_RECORD_UNREADABLE, and leaves the row as edited', async () => {
    // Prepare
    const before = await table.getEntity('client', 'enabled-as-text');

    // Act
    const answers = [
      await clientApi(call('GET', '/enabled-as-text'), context),
      await clientApi(call('PATCH', '/enabled-as-text', { displayName: 'renamed' }), context),
      await clientApi(call('PATCH', '/enabled-as-text', { enabled: false }), context),
      await secretApi(call('POST', '/enabled-as-text/secrets/primary'), context),
      await listApi(
        call('POST', '', { id: 'enabled-as-text', displayName: 'again', allowedScopes: ['demo-token'] }),
        context,
      ),
    ];

    // Assess
    for (const answer of answers) {
      expect(answer.status).toBe(409);
      expect(bodyOf(answer)).toMatchObject({ code: 'CLIENT_RECORD_UNREADABLE' });
      expect(String(bodyOf(answer)['detail'])).toMatch(/enabled-as-text .*enabled \(a Boolean\)/);
    }
    const after = await table.getEntity('client', 'enabled-as-text');
    expect(after.etag).toBe(before.etag);
    expect(after['enabled']).toBe('true');
  });

  it('names the rows it skips in the list, in key order, with what a GET answers, and never what they hold', async () => {
    // Act
    const answer = bodyOf(await listApi(call('GET', ''), context));

    // Assess
    const value = answer['value'] as Array<{ id: string; rateLimitPerMinute?: number }>;
    expect(value.map((c) => c.id)).toEqual(['expiry-datetime', 'rate-int64']);
    const unreadable = answer['unreadable'] as Array<Record<string, string>>;
    expect(unreadable.map((u) => u['id'])).toEqual([
      'enabled-as-text',
      'no-hashes',
      'rate-as-text',
      'scopes-not-json',
    ]);
    expect(unreadable.every((u) => u['code'] === 'CLIENT_RECORD_UNREADABLE')).toBe(true);
    const get = bodyOf(await clientApi(call('GET', '/scopes-not-json'), context));
    expect(unreadable.find((u) => u['id'] === 'scopes-not-json')?.['message']).toBe(get['detail']);
    expect(JSON.stringify(answer)).not.toContain(PASTED);
    expect(logger.text()).not.toContain(PASTED);
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'listPage => row skipped, unreadable',
        props: { clientId: 'scopes-not-json', fields: 'allowedScopes' },
      }),
    );
  });

  it('refuses its token requests with its right secret as a wrong secret is refused (401), naming it in a warning', async () => {
    // Prepare
    const seen = new CapturingLogger();
    const authenticator = new ClientAuthenticator({
      registry,
      hasher,
      clock: systemClock,
      logger: seen,
      defaultRateLimitPerMinute: 600,
    });

    // Act
    const refused = await authenticator
      .authenticate('scopes-not-json', secrets.get('scopes-not-json')!)
      .catch((e: unknown) => e);
    const served = await authenticator.authenticate('rate-int64', secrets.get('rate-int64')!);

    // Assess
    expect(refused).toBeInstanceOf(InvalidClientError);
    expect(served.rateLimitPerMinute).toBe(120);
    expect(seen.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        props: { clientId: 'scopes-not-json', fields: 'allowedScopes' },
      }),
    );
    expect(seen.text()).not.toContain(PASTED);
    expect(seen.text()).not.toContain(secrets.get('scopes-not-json'));
  });

  it('DELETE removes it, so that the id can be created again', async () => {
    // Act
    const deleted = await clientApi(call('DELETE', '/no-hashes'), context);
    const { client } = await admin.create({
      id: 'no-hashes',
      displayName: 'again',
      allowedScopes: ['demo-token'],
    });

    // Assess
    expect(deleted.status).toBe(204);
    expect(await admin.get(client.id)).toMatchObject({ displayName: 'again' });
  });
});
