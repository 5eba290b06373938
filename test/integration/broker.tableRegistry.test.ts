import { TableClient } from '@azure/data-tables';

import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { BrokerClientRecord } from '../../shared/broker/BrokerClient';
import { BrokerClientAdminService } from '../../shared/broker/BrokerClientAdminService';
import { ClientChangedError } from '../../shared/broker/errors';
import { SecretHasher } from '../../shared/broker/SecretHasher';
import { TableBrokerClientRegistry } from '../../shared/broker/TableBrokerClientRegistry';
import { systemClock } from '../../shared/clock';
import { ConflictError } from '../../shared/errors';
import { eachListed } from '../../shared/listPages';
import { silentLogger } from '../../shared/logging';
import { clientRecord } from '../support/clientRecords';
import { FlakyTableWrites } from '../support/FlakyTableWrites';
import { scopesStoredAs } from '../support/tableLimitInputs';

const hasher = new SecretHasher('integration-pepper-0123456789-abcdefghij');

const record = (id: string): BrokerClientRecord => clientRecord(id, hasher);

/** The broker client registry against Azurite through the real TableClient. */
describe('Class: TableBrokerClientRegistry', () => {
  let azurite: RunningAzurite;
  let registry: TableBrokerClientRegistry;
  let table: TableClient;
  const flaky = new FlakyTableWrites();

  beforeAll(async () => {
    azurite = await startAzurite();
    table = TableClient.fromConnectionString(azurite.connectionString, 'registryBrokerClients', {
      allowInsecureConnection: true,
      retryOptions: { retryDelayInMs: 10 },
      additionalPolicies: [{ policy: flaky.policy, position: 'perRetry' }],
    });
    registry = new TableBrokerClientRegistry({ table });
  }, 60_000);

  afterAll(async () => {
    await azurite?.stop();
  });

  const adminService = () =>
    new BrokerClientAdminService({ registry, hasher, clock: systemClock, logger: silentLogger });

  it('reads a client back with the version it is stored at', async () => {
    // Prepare
    const created = record('versioned');
    await registry.create(created);

    // Act
    const first = await registry.get('versioned');
    await registry.update({ ...first!, displayName: 'renamed' });
    const second = await registry.get('versioned');

    // Assess
    const { version, ...stored } = first!;
    expect(stored).toEqual(created);
    expect(version).toMatch(/\S/);
    expect(second).toMatchObject({ displayName: 'renamed' });
    expect(second!.version).not.toBe(first!.version);
    const listed: BrokerClientRecord[] = [];
    for await (const client of eachListed((request) => registry.listPage(request))) listed.push(client);
    expect(listed.find((c) => c.id === 'versioned')?.version).toBe(second!.version);
  });

  it('refuses an update read at a version that is no longer current, and keeps the newer write', async () => {
    // Prepare: two admin calls read the same version; one writes first
    await registry.create(record('stale'));
    const readByBoth = (await registry.get('stale'))!;
    await registry.update({ ...readByBoth, enabled: false });

    // Act
    const error = await registry.update({ ...readByBoth, displayName: 'late' }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ClientChangedError);
    expect(await registry.get('stale')).toMatchObject({ enabled: false, displayName: 'stale' });
  });

  it('counts a create whose answer was lost as created, but refuses an id another create took', async () => {
    // Prepare: the SDK retries the dropped create, which then finds the row there (409)
    const ours = record('created-once');
    flaky.dropNextAnswer();

    // Act
    await registry.create(ours);
    const taken = await registry.create(record('created-once')).catch((e: unknown) => e);

    // Assess
    expect(flaky.pending).toBe(false);
    expect(await registry.get('created-once')).toMatchObject({ primarySecretHash: ours.primarySecretHash });
    expect(taken).toBeInstanceOf(ConflictError);
  });

  it('keeps both secrets when the primary and the secondary are regenerated at once (admin service)', async () => {
    // Prepare: the secondary's regeneration lands between the primary's read and its write
    const admin = adminService();
    const { client } = await admin.create({ id: 'rolled', displayName: 'x', allowedScopes: ['demo-token'] });
    let secondary = '';
    flaky.beforeNextWrite(async () => {
      secondary = (await admin.regenerate(client.id, 'secondary')).secret;
    });

    // Act
    const primary = (await admin.regenerate(client.id, 'primary')).secret;

    // Assess
    expect(flaky.pending).toBe(false);
    const stored = await registry.get(client.id);
    expect(stored?.primarySecretHash).toBe(hasher.hashForStorage(primary));
    expect(stored?.secondarySecretHash).toBe(hasher.hashForStorage(secondary));
  });

  it('keeps the columns a newer version wrote through an update and a regeneration (rolling deployment)', async () => {
    // Prepare: a newer version, deployed beside this one, stored columns this version does not know
    const admin = adminService();
    const { client } = await admin.create({
      id: 'newer-columns',
      displayName: 'x',
      allowedScopes: ['demo-token'],
    });
    const newer = {
      allowedNetworks: '["10.0.0.0/8"]',
      secretsRotatedAt: new Date('2026-12-01T00:00:00.000Z'),
      grantsIssued: BigInt('9007199254740993'),
    };
    await table.updateEntity({ partitionKey: 'client', rowKey: client.id, ...newer }, 'Merge');

    // Act
    await admin.update(client.id, { displayName: 'renamed', rateLimitPerMinute: null });
    await admin.regenerate(client.id, 'secondary');

    // Assess: the row keeps them, as that version wrote them; the admin API shows none of them
    const row = await table.getEntity<Record<string, unknown>>('client', client.id);
    expect(row).toMatchObject({ ...newer, displayName: 'renamed' });
    const view = await admin.get(client.id);
    expect(view).not.toHaveProperty('allowedNetworks');
    expect(view).not.toHaveProperty('otherColumns');
  });

  it('stores the largest scope list the admin API accepts, which fills one Table storage property', async () => {
    // Prepare: scopes whose JSON array takes exactly 32,768 characters (one more is refused with 400)
    const admin = adminService();
    const allowedScopes = scopesStoredAs(32_768);

    // Act
    const { client } = await admin.create({ id: 'widest', displayName: 'x', allowedScopes });

    // Assess: the limit is storage's own, one character more is refused by Azurite
    expect(client.allowedScopes).toEqual(allowedScopes);
    expect((await registry.get('widest'))?.allowedScopes).toEqual(allowedScopes);
    const over = { ...record('wider'), allowedScopes: scopesStoredAs(32_769) };
    await expect(registry.create(over)).rejects.toThrow();
  });
});
