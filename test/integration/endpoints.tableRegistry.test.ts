import { TableClient } from '@azure/data-tables';

import { type RunningAzurite, startAzurite } from '../../local/azurite';
import { systemClock } from '../../shared/clock';
import type { ManagedEndpoint } from '../../shared/endpoints/ManagedEndpoint';
import { TableEndpointRegistry } from '../../shared/endpoints/TableEndpointRegistry';
import { validateEndpoint } from '../../shared/endpoints/validateEndpoint';
import { EndpointAdminService } from '../../shared/rotation/EndpointAdminService';
import {
  EndpointChangedError,
  EndpointExistsError,
  EndpointNotFoundError,
} from '../../shared/rotation/errors';
import { FakeClock } from '../fakes/rotation/FakeClock';
import { FaultPlan } from '../fakes/rotation/FaultPlan';
import { InMemoryRotationJobQueue } from '../fakes/rotation/InMemoryRotationJobQueue';
import { InMemoryRotationJournal } from '../fakes/rotation/InMemoryRotationJournal';
import { InMemorySecretStore } from '../fakes/rotation/InMemorySecretStore';
import { FlakyTableWrites } from '../support/FlakyTableWrites';

const rules = { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24 };
const retiredAt = '2026-02-01T00:00:00.000Z';

function endpoint(id: string): ManagedEndpoint {
  const arm = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: id };
  return validateEndpoint({ id, arm }, rules, new Date().toISOString());
}

/** The endpoint registry against Azurite through the real TableClient: writes never overwrite blindly. */
describe('Class: TableEndpointRegistry (Azurite)', () => {
  let azurite: RunningAzurite;
  let registry: TableEndpointRegistry;
  let admin: EndpointAdminService;
  const flaky = new FlakyTableWrites();

  beforeAll(async () => {
    azurite = await startAzurite();
    const table = TableClient.fromConnectionString(azurite.connectionString, 'registryEndpoints', {
      allowInsecureConnection: true,
      retryOptions: { retryDelayInMs: 10 },
      additionalPolicies: [{ policy: flaky.policy, position: 'perRetry' }],
    });
    registry = new TableEndpointRegistry({ table, rules, now: () => new Date().toISOString() });
    // Only the registry matters to register, update and retire; the other ports are in-memory.
    const [faults, fakeClock] = [new FaultPlan(), new FakeClock()];
    admin = new EndpointAdminService({
      registry,
      journal: new InMemoryRotationJournal(fakeClock, faults),
      secrets: new InMemorySecretStore(fakeClock, faults),
      jobs: new InMemoryRotationJobQueue(),
      clock: systemClock,
      rules,
    });
  }, 60_000);

  afterAll(async () => {
    await azurite?.stop();
  });

  it('reads an endpoint back with a version that changes on every write', async () => {
    // Prepare
    const created = endpoint('versioned');
    await registry.create(created);

    // Act
    const first = await registry.getVersioned('versioned');
    await registry.replace({ ...created, enabled: false }, first!.version);
    const second = await registry.getVersioned('versioned');

    // Assess
    expect(first?.endpoint).toEqual(created);
    expect(second?.endpoint.enabled).toBe(false);
    expect(second?.version).not.toBe(first?.version);
  });

  it('refuses a replace read at an older version and keeps the newer write', async () => {
    // Prepare: two writers read the same version; one writes first
    await registry.create(endpoint('stale-one'));
    const readByBoth = (await registry.getVersioned('stale-one'))!;
    await registry.replace({ ...readByBoth.endpoint, retiredAt }, readByBoth.version);

    // Act
    const late = { ...readByBoth.endpoint, rotationPeriodHours: 48 };
    const error = await registry.replace(late, readByBoth.version).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointChangedError);
    expect(await registry.get('stale-one')).toMatchObject({ retiredAt, rotationPeriodHours: 100 });
  });

  it('answers a replace of a deleted endpoint with EndpointNotFoundError, not by re-creating it', async () => {
    await registry.create(endpoint('gone-one'));
    const read = (await registry.getVersioned('gone-one'))!;
    await registry.delete('gone-one');
    await expect(registry.replace(read.endpoint, read.version)).rejects.toThrow(EndpointNotFoundError);
    expect(await registry.get('gone-one')).toBeUndefined();
  });

  it('counts a create whose answer was lost as created, but refuses an id another create took', async () => {
    // Prepare: the SDK retries the dropped create, which then finds its own row (409)
    const ours = endpoint('created-once');
    flaky.dropNextAnswer();

    // Act
    await registry.create(ours);
    const taken = await registry
      .create({ ...endpoint('created-once'), rotationPeriodHours: 48 })
      .catch((e: unknown) => e);

    // Assess
    expect(flaky.pending).toBe(false);
    expect(await registry.get('created-once')).toEqual(ours);
    expect(taken).toBeInstanceOf(EndpointExistsError);
  });

  it('keeps a retirement that lands while a PATCH is being written (admin service)', async () => {
    // Prepare: Event Grid's ResourceDeleteSuccess retires the endpoint between the PATCH's read and write
    await admin.register({ id: 'patched-one', arm: endpoint('patched-one').arm });
    flaky.beforeNextWrite(async () => {
      await admin.retire('patched-one', retiredAt);
    });

    // Act
    const updated = await admin.update('patched-one', { rotationPeriodHours: 48 });

    // Assess
    expect(flaky.pending).toBe(false);
    expect(updated).toMatchObject({ rotationPeriodHours: 48, retiredAt });
    expect(await registry.get('patched-one')).toEqual(updated);
  });

  it('lets only one of two racing registrations of one endpoint win (admin service)', async () => {
    // Prepare: two Event Grid deliveries of one ResourceWriteSuccess both pass the "not registered" check
    const arm = endpoint('raced-one').arm;
    let second: unknown;
    flaky.beforeNextWrite(async () => {
      second = await admin
        .register({ id: 'raced-one', arm, rotationPeriodHours: 48 })
        .catch((e: unknown) => e);
    });

    // Act
    const first = await admin.register({ id: 'raced-one', arm }).catch((e: unknown) => e);

    // Assess: the write sent second finds the row taken
    expect(second).toMatchObject({ id: 'raced-one', rotationPeriodHours: 48 });
    expect(first).toBeInstanceOf(EndpointExistsError);
    expect(await registry.get('raced-one')).toEqual(second);
  });
});
