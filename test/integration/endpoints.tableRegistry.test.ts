import { isRestError, type PipelinePolicy } from '@azure/core-rest-pipeline';
import { TableClient } from '@azure/data-tables';
import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';

import { manageEndpointHandler } from '../../functions/manageEndpoint';
import { manageEndpointRotateHandler } from '../../functions/manageEndpointRotate';
import { manageEndpointsHandler } from '../../functions/manageEndpoints';
import { type RunningAzurite, startAzurite } from '../../local/azurite';
import { systemClock } from '../../shared/clock';
import { armIdentity, type ManagedEndpoint } from '../../shared/endpoints/ManagedEndpoint';
import { TableEndpointRegistry } from '../../shared/endpoints/TableEndpointRegistry';
import { validateEndpoint } from '../../shared/endpoints/validateEndpoint';
import { EndpointAdminService } from '../../shared/rotation/EndpointAdminService';
import {
  EndpointAlreadyRegisteredError,
  EndpointChangedError,
  EndpointExistsError,
  EndpointNotFoundError,
  EndpointRecordUnreadableError,
} from '../../shared/rotation/errors';
import { CapturingLogger, CapturingTelemetry } from '../fakes/capture';
import { FakeClock } from '../fakes/FakeClock';
import { FaultPlan } from '../fakes/rotation/FaultPlan';
import { InMemoryRotationJobQueue } from '../fakes/rotation/InMemoryRotationJobQueue';
import { InMemoryRotationJournal } from '../fakes/rotation/InMemoryRotationJournal';
import { InMemorySecretStore } from '../fakes/rotation/InMemorySecretStore';
import { adminOver, listedIds, writeRowWithoutClaim } from '../support/endpointTable';
import { FlakyTableWrites } from '../support/FlakyTableWrites';
import { largestEndpointInput } from '../support/tableLimitInputs';
import { sleep } from '../support/waitFor';

const rules = { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24 };
const retiredAt = '2026-02-01T00:00:00.000Z';

function endpoint(id: string): ManagedEndpoint {
  const arm = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: id };
  return validateEndpoint({ id, arm }, rules, new Date().toISOString());
}

/** The endpoint registry against Azurite through the real TableClient: writes never overwrite blindly. */
describe('Class: TableEndpointRegistry (Azurite)', () => {
  let azurite: RunningAzurite;
  let table: TableClient;
  let registry: TableEndpointRegistry;
  let admin: EndpointAdminService;
  const flaky = new FlakyTableWrites();
  let scans = 0;
  // Point reads that found nothing, and how many of them a scan waits for before it is sent.
  let pointMisses = 0;
  let scansWaitForPointMisses = 0;
  const scanCounter: PipelinePolicy = {
    name: 'scanCounter',
    sendRequest: async (request, next) => {
      const scan = request.method === 'GET' && /[?&](%24|\$)filter=/.test(request.url);
      if (scan) scans++;
      while (scan && pointMisses < scansWaitForPointMisses) await sleep(5);
      try {
        return await next(request);
      } catch (error) {
        // The SDK turns a 404 into an error before this policy sees the response.
        if (!scan && request.method === 'GET' && isRestError(error) && error.statusCode === 404)
          pointMisses++;
        throw error;
      }
    },
  };

  beforeAll(async () => {
    azurite = await startAzurite();
    table = TableClient.fromConnectionString(azurite.connectionString, 'registryEndpoints', {
      allowInsecureConnection: true,
      retryOptions: { retryDelayInMs: 10 },
      additionalPolicies: [
        { policy: flaky.policy, position: 'perRetry' },
        { policy: scanCounter, position: 'perCall' },
      ],
    });
    registry = new TableEndpointRegistry({ table, rules, now: () => new Date().toISOString() });
    admin = adminOver(registry, rules);
  }, 60_000);

  /** An endpoint row as versions before secret-name claims wrote it. */
  async function legacyRow(id: string): Promise<ManagedEndpoint> {
    const legacy = endpoint(id);
    await writeRowWithoutClaim(table, legacy);
    return legacy;
  }

  afterAll(async () => {
    await azurite?.stop();
  });

  it('stores the largest endpoint the admin API accepts in its one Table storage property', async () => {
    // Prepare: every field at its longest as stored; a reinstatement and a retirement add the last fields
    // the app writes
    const largest = largestEndpointInput();

    // Act
    await admin.register(largest);
    await admin.retire(largest.id, retiredAt);
    await admin.reinstate(largest.id);
    const retired = await admin.retire(largest.id, retiredAt);

    // Assess
    expect(retired).toHaveProperty('reinstatedAt');
    expect(await registry.get(largest.id)).toEqual(retired);
    expect(retired.probe).toEqual(largest.probe);
  });

  it('stores a reinstated endpoint without the retirement (the row is replaced, not merged)', async () => {
    // Prepare
    await admin.register({ id: 'reinstated-one', arm: endpoint('reinstated-one').arm });
    await admin.retire('reinstated-one', retiredAt);

    // Act
    const reinstated = await admin.reinstate('reinstated-one');

    // Assess
    expect(reinstated.retiredAt).toBeUndefined();
    expect(await registry.get('reinstated-one')).toEqual(reinstated);
  });

  it('keeps the columns a newer version wrote beside the endpoint through a PATCH and a retirement (rolling deployment)', async () => {
    // Prepare: a newer version, deployed beside this one, stored a column this version does not write
    await admin.register({ id: 'newer-column', arm: endpoint('newer-column').arm });
    const newer = { retiredIndex: 'no', reviewedAt: new Date('2026-12-01T00:00:00.000Z') };
    await table.updateEntity({ partitionKey: 'endpoint', rowKey: 'newer-column', ...newer }, 'Merge');

    // Act
    await admin.update('newer-column', { enabled: false });
    const retired = await admin.retire('newer-column', retiredAt);

    // Assess
    expect(await table.getEntity('endpoint', 'newer-column')).toMatchObject(newer);
    expect(await registry.get('newer-column')).toEqual(retired);
  });

  it('answers 404 to ids no endpoint can have without asking the table, which answers 500 to some', async () => {
    // Prepare: a slash is no valid row key (Azurite answers 500), 2,000 characters exceed one (1 KiB)
    const ids = ['a/b', 'a?b', 'x'.repeat(2000)];

    // Act
    const errors = await Promise.all(
      ids.flatMap((id) =>
        [
          admin.status(id),
          admin.update(id, { enabled: false }),
          admin.remove(id),
          admin.rotateNow(id),
          admin.retire(id, retiredAt),
        ].map((call) => call.catch((e: unknown) => e)),
      ),
    );

    // Assess
    for (const error of errors) {
      expect(error).toBeInstanceOf(EndpointNotFoundError);
      expect((error as EndpointNotFoundError).message.length).toBeLessThan(100);
    }
  });

  it('finds no owner for a secret name Key Vault cannot have, without asking the table, which answers 500 to some', async () => {
    // Prepare: a Key Vault event names any secret it likes; a slash is no valid row key (Azurite answers
    // 500), 2,000 characters exceed one (1 KiB)
    const names = ['a/b', 'a?b', 'a b', 'x'.repeat(2000)];

    // Act
    const owners = await Promise.all(names.map((name) => registry.findBySecretName(name)));

    // Assess
    expect(owners).toEqual(names.map(() => undefined));
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

  describe('ARM-coordinate claims: one registration per Azure ML endpoint', () => {
    const at = (name: string) => ({
      subscriptionId: 'sub-1',
      resourceGroup: 'rg',
      workspace: 'coords-ws',
      name,
    });
    /** The same coordinates, spelt as ARM might in another case. */
    const shouting = (name: string) => ({
      subscriptionId: 'SUB-1',
      resourceGroup: 'RG',
      workspace: 'Coords-WS',
      name: name.toUpperCase(),
    });

    it('refuses a second registration of one endpoint whatever the case, naming the first, and keeps other kinds apart', async () => {
      // Prepare
      await admin.register({ id: 'coords-first', arm: at('scoring') });

      // Act
      const second = await admin
        .register({ id: 'coords-second', arm: shouting('scoring') })
        .catch((e: unknown) => e);
      const direct = await registry
        .create(
          validateEndpoint({ id: 'coords-direct', arm: at('scoring') }, rules, new Date().toISOString()),
        )
        .catch((e: unknown) => e);
      const serverless = await admin.register({
        id: 'coords-serverless',
        kind: 'serverlessEndpoint',
        arm: at('scoring'),
      });

      // Assess: the claim stops a create that skips the admin service's check, too
      expect(second).toBeInstanceOf(EndpointAlreadyRegisteredError);
      expect(second).toMatchObject({
        status: 409,
        code: 'ENDPOINT_ALREADY_REGISTERED',
        existingId: 'coords-first',
      });
      expect((second as Error).message).toBe(
        'The onlineEndpoint SCORING of workspace Coords-WS (resource group RG, subscription SUB-1) is already ' +
          'registered as endpoint coords-first.',
      );
      expect(direct).toMatchObject({ code: 'ENDPOINT_ALREADY_REGISTERED', existingId: 'coords-first' });
      expect(serverless.id).toBe('coords-serverless');
      expect(await registry.get('coords-second')).toBeUndefined();
      expect((await listedIds(registry)).filter((id) => id.startsWith('~'))).toEqual([]);
    });

    it('lets only one of two racing registrations of one endpoint win', async () => {
      // Prepare: both pass the "endpoint is not registered" check before either writes
      let second: unknown;
      flaky.beforeNextWrite(async () => {
        second = await admin.register({ id: 'race-b', arm: shouting('raced') });
      });

      // Act
      const first = await admin.register({ id: 'race-a', arm: at('raced') }).catch((e: unknown) => e);

      // Assess
      expect(second).toMatchObject({ id: 'race-b' });
      expect(first).toMatchObject({ code: 'ENDPOINT_ALREADY_REGISTERED', existingId: 'race-b' });
      expect(await registry.get('race-a')).toBeUndefined();
      expect((await registry.findByArm('onlineEndpoint', at('raced')))?.id).toBe('race-b');
    });

    it('keeps the claim while retired, moves it with a PATCH of arm, refuses a move onto a claimed endpoint, and frees it on delete', async () => {
      // Prepare
      await admin.register({ id: 'coords-mover', arm: at('before') });
      await admin.register({ id: 'coords-sitter', arm: at('sitting') });
      await admin.retire('coords-mover', retiredAt);

      // Act
      const whileRetired = await admin
        .register({ id: 'coords-retaker', arm: at('before') })
        .catch((e: unknown) => e);
      await admin.update('coords-mover', { arm: { name: 'after' } });
      const oldPlaceFree = await admin.register({ id: 'coords-old-place', arm: at('before') });
      const ontoSitter = await admin
        .update('coords-mover', { arm: { name: 'SITTING' } })
        .catch((e: unknown) => e);
      await admin.remove('coords-mover');
      const freedAfterDelete = await admin.register({ id: 'coords-freed', arm: at('after') });

      // Assess
      expect(whileRetired).toMatchObject({ code: 'ENDPOINT_ALREADY_REGISTERED', existingId: 'coords-mover' });
      expect(oldPlaceFree.id).toBe('coords-old-place');
      expect(ontoSitter).toMatchObject({ code: 'ENDPOINT_ALREADY_REGISTERED', existingId: 'coords-sitter' });
      expect(freedAfterDelete.id).toBe('coords-freed');
      expect((await registry.findByArm('onlineEndpoint', at('sitting')))?.id).toBe('coords-sitter');
    });

    it('takes over a claim an older version left behind when it deleted or moved its endpoint', async () => {
      // Prepare: this version registered both; a version from before these claims then deleted one and
      // moved the other (its writes leave the coordinate claims as they were)
      await admin.register({ id: 'left-deleted', arm: at('deleted-by-older') });
      await admin.register({ id: 'left-moved', arm: at('moved-by-older') });
      // An older version's delete frees the secret's claim (it knows that one).
      await table.deleteEntity('endpoint', 'left-deleted');
      await table.deleteEntity('endpoint', '~secret~left-deleted-key');
      const moved = (await registry.get('left-moved'))!;
      await table.updateEntity(
        {
          partitionKey: 'endpoint',
          rowKey: 'left-moved',
          endpoint: JSON.stringify({ ...moved, arm: at('elsewhere') }),
        },
        'Merge',
      );

      // Act
      const again = await admin.register({ id: 'left-deleted', arm: at('deleted-by-older') });
      const newcomer = await admin.register({ id: 'moved-newcomer', arm: at('moved-by-older') });
      const twice = await admin
        .register({ id: 'moved-twice', arm: at('moved-by-older') })
        .catch((e: unknown) => e);

      // Assess
      expect(again.id).toBe('left-deleted');
      expect(newcomer.id).toBe('moved-newcomer');
      expect(twice).toMatchObject({ code: 'ENDPOINT_ALREADY_REGISTERED', existingId: 'moved-newcomer' });
    });

    it('still retires and disables a registration that shares its endpoint with another from before these claims', async () => {
      // Prepare: one endpoint registered twice by a version from before the claims; one of them got the
      // claim on its first replace since
      const first = { ...endpoint('dup-first'), arm: at('registered-twice') };
      const second = { ...endpoint('dup-second'), arm: shouting('registered-twice') };
      await writeRowWithoutClaim(table, first);
      await writeRowWithoutClaim(table, second);
      await admin.update('dup-first', { rotationPeriodHours: 48 });

      // Act
      const disabled = await admin.update('dup-second', { enabled: false });
      const retired = await admin.retire('dup-second', retiredAt);
      const found = await registry.findByArm('onlineEndpoint', at('registered-twice'));
      await admin.retire('dup-first', retiredAt);
      const foundWhenBothRetired = await registry.findByArm('onlineEndpoint', at('registered-twice'));

      // Assess: refusing either write would keep a registration of a deleted endpoint in service
      expect(disabled.enabled).toBe(false);
      expect(retired.retiredAt).toBe(retiredAt);
      expect(found?.id).toBe('dup-first');
      expect(foundWhenBothRetired?.id).toBe('dup-first');
    });

    it('finds a registration by its coordinates with point reads, and gives rows from before the claims theirs on the first miss', async () => {
      // Prepare: a process starts against a table that still holds rows written before these claims
      const own = TableClient.fromConnectionString(azurite.connectionString, 'coordinateLookups', {
        allowInsecureConnection: true,
        additionalPolicies: [{ policy: scanCounter, position: 'perCall' }],
      });
      await own.createTable();
      const writer = new TableEndpointRegistry({ table: own, rules, now: () => new Date().toISOString() });
      await writer.create({ ...endpoint('claimed-here'), arm: at('claimed-here') });
      await writeRowWithoutClaim(own, { ...endpoint('from-before'), arm: at('from-before') });
      await writeRowWithoutClaim(own, { ...endpoint('nobody-asks'), arm: at('nobody-asks') });
      const restarted = new TableEndpointRegistry({ table: own, rules, now: () => new Date().toISOString() });
      scans = 0;

      // Act
      const claimed = await restarted.findByArm('onlineEndpoint', shouting('claimed-here'));
      const scansForClaimed = scans;
      const unclaimed = await restarted.findByArm('onlineEndpoint', at('from-before'));
      const scansForUnclaimed = scans;
      const misses = await Promise.all(
        ['untagged-1', 'untagged-2', 'untagged-3'].map((name) =>
          restarted.findByArm('onlineEndpoint', at(name)),
        ),
      );
      const later = new TableEndpointRegistry({ table: own, rules, now: () => new Date().toISOString() });
      const nobodyAsks = await later.findByArm('onlineEndpoint', at('nobody-asks'));
      const laterMiss = await later.findByArm('onlineEndpoint', at('untagged-4'));

      // Assess: one walk, which claimed every row it passed: misses are one point read from then on, in
      // this process and in another
      expect(claimed?.id).toBe('claimed-here');
      expect(scansForClaimed).toBe(0);
      expect(unclaimed?.id).toBe('from-before');
      expect(scansForUnclaimed).toBe(1);
      expect(misses).toEqual([undefined, undefined, undefined]);
      expect(nobodyAsks?.id).toBe('nobody-asks');
      expect(laterMiss).toBeUndefined();
      expect(scans).toBe(2);
    });

    it('gives a row from before these claims the coordinates a claim left behind by a move names, so misses stop walking', async () => {
      // Prepare: a version from before these claims moved a registration away (its claim left naming it) and
      // registered another at the coordinates it left, without a claim
      const own = TableClient.fromConnectionString(azurite.connectionString, 'coordinateTakeovers', {
        allowInsecureConnection: true,
        additionalPolicies: [{ policy: scanCounter, position: 'perCall' }],
      });
      await own.createTable();
      const here = new TableEndpointRegistry({ table: own, rules, now: () => new Date().toISOString() });
      await here.create({ ...endpoint('arm-gave-away'), arm: at('handed-on') });
      const moved = (await here.get('arm-gave-away'))!;
      await own.updateEntity(
        {
          partitionKey: 'endpoint',
          rowKey: 'arm-gave-away',
          endpoint: JSON.stringify({ ...moved, arm: at('moved-on') }),
        },
        'Merge',
      );
      await writeRowWithoutClaim(own, { ...endpoint('arm-heir'), arm: at('handed-on') });
      const restarted = new TableEndpointRegistry({ table: own, rules, now: () => new Date().toISOString() });
      scans = 0;

      // Act: ARM events about endpoints nobody registered, then about the one handed on
      const first = await restarted.findByArm('onlineEndpoint', at('untagged-1'));
      const walksOfFirst = scans;
      const second = await restarted.findByArm('onlineEndpoint', at('untagged-2'));
      const heir = await restarted.findByArm('onlineEndpoint', shouting('handed-on'));

      // Assess: the walk took the left-over claim over for the row at those coordinates, and found every row
      // claimed (it used to find that row's claim held, and every miss walked the table again)
      expect([first, second]).toEqual([undefined, undefined]);
      expect(heir?.id).toBe('arm-heir');
      expect(walksOfFirst).toBe(1);
      expect(scans).toBe(1);
      expect(await restarted.findByArm('onlineEndpoint', at('moved-on'))).toMatchObject({
        id: 'arm-gave-away',
      });
    });

    it('names the registrations of one endpoint made twice before these claims on each walk, and counts them', async () => {
      // Prepare: a table from before the claims holding one endpoint registered twice (in two cases)
      const own = TableClient.fromConnectionString(azurite.connectionString, 'registeredTwice', {
        allowInsecureConnection: true,
        additionalPolicies: [{ policy: scanCounter, position: 'perCall' }],
      });
      await own.createTable();
      await writeRowWithoutClaim(own, { ...endpoint('twice-first'), arm: at('twice') });
      await writeRowWithoutClaim(own, { ...endpoint('twice-second'), arm: shouting('twice') });
      await writeRowWithoutClaim(own, { ...endpoint('once-only'), arm: at('once') });
      const logger = new CapturingLogger();
      const telemetry = new CapturingTelemetry();
      const restarted = new TableEndpointRegistry({
        table: own,
        rules,
        now: () => new Date().toISOString(),
        logger,
        telemetry,
      });
      scans = 0;

      // Act: ARM events about endpoints nobody registered
      const misses = await Promise.all(
        ['untagged-1', 'untagged-2'].map((name) => restarted.findByArm('onlineEndpoint', at(name))),
      );
      const [linesOfFirstMisses, walksOfFirstMisses] = [logger.lines.length, scans];
      const later = await restarted.findByArm('onlineEndpoint', at('untagged-3'));
      const found = await restarted.findByArm('onlineEndpoint', shouting('twice'));

      // Assess: one line a walk, naming both; the second of the pair never gets the claim, so the next miss
      // walks again. The two first misses share one walk when the second arrives before the first walk ends,
      // which a busy machine does not promise (the unit tests pin the sharing with a held walk).
      const line = {
        level: 'warn',
        message: 'findByArm => one Azure ML endpoint registered twice, DELETE one of them',
        props: { endpointId: 'twice-second', alsoRegisteredAs: 'twice-first' },
      };
      expect([...misses, later]).toEqual([undefined, undefined, undefined]);
      expect(found?.id).toBe('twice-first');
      expect([1, 2]).toContain(walksOfFirstMisses);
      expect(linesOfFirstMisses).toBe(walksOfFirstMisses);
      expect(scans).toBe(walksOfFirstMisses + 1);
      expect(logger.lines).toEqual(Array.from({ length: scans }, () => line));
      expect(telemetry.count('EndpointsRegisteredTwice')).toBe(scans);
    });

    it('names a row registered before ENDPOINTS_FILE declared its endpoint, answers the entry, and leaves the row unrotated', async () => {
      // Prepare: a row registered with its claims; then a deployment declares its endpoint (in another case)
      // in the file under another id
      const own = TableClient.fromConnectionString(azurite.connectionString, 'declaredInFile', {
        allowInsecureConnection: true,
      });
      await own.createTable();
      const before = new TableEndpointRegistry({ table: own, rules, now: () => new Date().toISOString() });
      await before.create({ ...endpoint('old-row'), arm: at('declared') });
      await before.create({ ...endpoint('other-row'), arm: at('other') });
      const logger = new CapturingLogger();
      const telemetry = new CapturingTelemetry();
      const redeployed = new TableEndpointRegistry({
        table: own,
        rules,
        now: () => new Date().toISOString(),
        endpointsFile: 'endpoints.json',
        readText: async () => JSON.stringify([{ id: 'file-entry', arm: shouting('declared') }]),
        logger,
        telemetry,
      });

      // Act: an ARM event about an endpoint nobody registered walks the rows (the process's first miss)
      const miss = await redeployed.findByArm('onlineEndpoint', at('untagged'));
      const found = await redeployed.findByArm('onlineEndpoint', at('declared'));
      const status = await adminOver(redeployed, rules).status('old-row');

      // Assess
      expect(miss).toBeUndefined();
      expect(found?.id).toBe('file-entry');
      expect(logger.lines).toEqual([
        {
          level: 'warn',
          message: 'findByArm => one Azure ML endpoint registered twice, DELETE one of them',
          props: { endpointId: 'old-row', alsoRegisteredAs: 'file-entry' },
        },
      ]);
      expect(telemetry.count('EndpointsRegisteredTwice')).toBe(1);
      expect(await redeployed.fileEntryClash((await redeployed.get('old-row'))!)).toEqual({
        entry: 'file-entry',
        shares: 'endpoint',
      });
      expect(await redeployed.fileEntryClash((await redeployed.get('other-row'))!)).toBeUndefined();
      expect(await redeployed.fileEntryClash((await redeployed.get('file-entry'))!)).toBeUndefined();
      expect(status.declaredInFile?.entry).toBe('file-entry');
      expect(status.nextDueAt).toBeUndefined();
    });

    it('answers POST …/rotate of a row registered before ENDPOINTS_FILE declared its endpoint 409 ENDPOINT_DECLARED_IN_FILE, queueing nothing', async () => {
      // Prepare: as above, a row registered with its claims, then the file declares its endpoint under another id
      const own = TableClient.fromConnectionString(azurite.connectionString, 'declaredInFileRotate', {
        allowInsecureConnection: true,
      });
      await own.createTable();
      const now = () => new Date().toISOString();
      await new TableEndpointRegistry({ table: own, rules, now }).create({
        ...endpoint('old-row'),
        arm: at('declared'),
      });
      const redeployed = new TableEndpointRegistry({
        table: own,
        rules,
        now,
        endpointsFile: 'endpoints.json',
        readText: async () => JSON.stringify([{ id: 'file-entry', arm: shouting('declared') }]),
      });
      const jobs = new InMemoryRotationJobQueue();
      const [faults, clock] = [new FaultPlan(), new FakeClock()];
      const admin = new EndpointAdminService({
        registry: redeployed,
        journal: new InMemoryRotationJournal(clock, faults),
        secrets: new InMemorySecretStore(clock, faults),
        jobs,
        clock: systemClock,
        rules,
      });
      const rotate = (id: string) =>
        manageEndpointRotateHandler(() => ({ admin }))(
          new HttpRequest({
            method: 'POST',
            url: `http://localhost:7071/api/manage/endpoints/${id}/rotate`,
            params: { id },
          }),
          new InvocationContext({ invocationId: 'inv-1', logHandler: () => undefined }),
        );

      // Act
      const refused = await rotate('old-row');
      const accepted = await rotate('file-entry');

      // Assess: problem details naming the entry and the way out; only the entry's rotation is queued
      expect(refused.status).toBe(409);
      expect((refused.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
      expect(JSON.parse(refused.body as string)).toMatchObject({
        status: 409,
        code: 'ENDPOINT_DECLARED_IN_FILE',
        detail:
          'Endpoint old-row is not rotated: ENDPOINTS_FILE declares its Azure ML endpoint as file-entry, which ' +
          'rotates its keys. Rotate file-entry instead; point the clients of old-row at the secret of ' +
          'file-entry and DELETE old-row.',
      });
      expect(accepted.status).toBe(202);
      expect(jobs.jobs.map((job) => job.endpointId)).toEqual(['file-entry']);
    });
  });

  describe('Secret-name claims: one endpoint per Key Vault secret', () => {
    it('lets only one of two racing registrations of one secret win, whatever the case (admin service)', async () => {
      // Prepare: both pass the "secret is free" check before either writes
      const arm = endpoint('claim-a').arm;
      let second: unknown;
      flaky.beforeNextWrite(async () => {
        second = await admin.register({ id: 'claim-b', arm, secretName: 'Shared-Secret' });
      });

      // Act
      const first = await admin
        .register({ id: 'claim-a', arm, secretName: 'shared-secret' })
        .catch((e: unknown) => e);

      // Assess
      expect(second).toMatchObject({ id: 'claim-b' });
      expect(first).toBeInstanceOf(EndpointExistsError);
      expect((first as Error).message).toBe('Secret shared-secret already belongs to endpoint claim-b.');
      expect(await registry.get('claim-a')).toBeUndefined();
      expect((await registry.findBySecretName('SHARED-SECRET'))?.id).toBe('claim-b');
    });

    it('moves the claim when a secret is renamed, and frees it when the endpoint is deleted', async () => {
      // Prepare
      const arm = endpoint('mover').arm;
      await admin.register({ id: 'mover', arm, secretName: 'before-name' });

      // Act
      await admin.update('mover', { secretName: 'after-name' });
      const oldNameFree = await admin.register({
        id: 'takes-old',
        arm: endpoint('takes-old').arm,
        secretName: 'Before-Name',
      });
      const newNameTaken = await admin
        .register({ id: 'takes-new', arm: endpoint('takes-new').arm, secretName: 'AFTER-NAME' })
        .catch((e: unknown) => e);
      await admin.remove('mover');
      const freedAfterDelete = await admin.register({
        id: 'takes-freed',
        arm: endpoint('takes-freed').arm,
        secretName: 'after-name',
      });

      // Assess
      expect(oldNameFree.id).toBe('takes-old');
      expect(newNameTaken).toBeInstanceOf(EndpointExistsError);
      expect(freedAfterDelete.id).toBe('takes-freed');
      expect(await listedIds(registry)).not.toContain('mover');
    });

    it('lets a rename and a registration race for one secret, and only one of them gets it', async () => {
      // Prepare: the rename's transaction is sent just after a registration took the name
      const arm = endpoint('renamer').arm;
      await admin.register({ id: 'renamer', arm });
      let registered: unknown;
      flaky.beforeNextWrite(async () => {
        registered = await admin.register({
          id: 'newcomer',
          arm: endpoint('newcomer').arm,
          secretName: 'wanted-name',
        });
      });

      // Act
      const renamed = await admin.update('renamer', { secretName: 'wanted-name' }).catch((e: unknown) => e);

      // Assess: the rename re-reads, sees the claim and is refused; nothing half-written
      expect(registered).toMatchObject({ id: 'newcomer' });
      expect(renamed).toBeInstanceOf(EndpointExistsError);
      expect((await registry.get('renamer'))?.secretName).toBe('renamer-key');
      expect((await registry.findBySecretName('wanted-name'))?.id).toBe('newcomer');
    });

    it('gives a row written before claims existed its claim on its first replace', async () => {
      // Prepare: an endpoint row as older versions wrote it, with no claim row
      const legacy = await legacyRow('legacy-one');

      // Act
      await admin.update('legacy-one', { rotationPeriodHours: 48 });
      const racer = { ...endpoint('legacy-racer'), secretName: legacy.secretName };
      const taken = await registry.create(racer).catch((e: unknown) => e);

      // Assess: the claim now stops a create that skips the admin service's check
      expect(taken).toBeInstanceOf(EndpointExistsError);
      expect((await registry.get('legacy-one'))?.rotationPeriodHours).toBe(48);
      expect((await listedIds(registry)).filter((id) => id.startsWith('~'))).toEqual([]);
    });

    it('finds an endpoint by its secret with point reads, and scans on a miss only while a row from before claims is left, claiming it', async () => {
      // Prepare: a process starts against a table that still holds a row written before claims
      await registry.create(endpoint('found-by-claim'));
      await legacyRow('found-by-scan');
      const restarted = new TableEndpointRegistry({ table, rules, now: () => new Date().toISOString() });
      scans = 0;

      // Act: Key Vault may report the name in another case than the endpoint's
      const claimed = await restarted.findBySecretName('FOUND-BY-CLAIM-KEY');
      const scansForClaimed = scans;
      const unclaimed = await restarted.findBySecretName('found-by-scan-key');
      const missAfterScan = await restarted.findBySecretName('some-other-apps-secret');
      const scansAfterScan = scans;
      // The scan gave the old row its claim, which its first replace keeps.
      await admin.update('found-by-scan', { rotationPeriodHours: 48 });
      await restarted.findBySecretName('some-other-apps-secret');
      const scansUntilAllClaimed = scans;
      const laterMisses = await Promise.all(
        ['another-apps-secret', 'yet-another-secret'].map((name) => restarted.findBySecretName(name)),
      );
      const foundByClaimNow = await restarted.findBySecretName('FOUND-BY-SCAN-KEY');

      // Assess: one scan, which claimed the rows it passed (it used to leave them to their first replace,
      // and every miss until then scanned again)
      expect(claimed?.id).toBe('found-by-claim');
      expect(scansForClaimed).toBe(0);
      expect(unclaimed?.id).toBe('found-by-scan');
      expect(missAfterScan).toBeUndefined();
      expect(scansAfterScan).toBe(1);
      expect(scansUntilAllClaimed).toBe(1);
      expect(laterMisses).toEqual([undefined, undefined]);
      expect(foundByClaimNow?.id).toBe('found-by-scan');
      expect(scans).toBe(1);
    });

    it('shares one scan among misses that arrive together on a cold process', async () => {
      // Prepare: a row from before claims, and a scan held until all three claim reads have missed
      await table.createTable();
      await legacyRow('found-by-shared-scan');
      const restarted = new TableEndpointRegistry({ table, rules, now: () => new Date().toISOString() });
      const names = ['found-by-shared-scan-key', 'first-other-apps-secret', 'second-other-apps-secret'];
      [scans, pointMisses, scansWaitForPointMisses] = [0, 0, names.length];

      // Act: a burst of Key Vault events, one per secret
      const owners = await Promise.all(names.map((name) => restarted.findBySecretName(name))).finally(() => {
        scansWaitForPointMisses = 0;
      });

      // Assess
      expect(owners.map((owner) => owner?.id)).toEqual(['found-by-shared-scan', undefined, undefined]);
      expect(scans).toBe(1);
    });

    it('finds a row an older version wrote without its claim after every row was found claimed, within 5 minutes', async () => {
      // Prepare: a table whose every row has its claim, and a process that has scanned it once
      const own = TableClient.fromConnectionString(azurite.connectionString, 'olderVersionRows', {
        allowInsecureConnection: true,
      });
      await own.createTable();
      let nowMs = Date.parse('2026-03-01T00:00:00.000Z');
      const now = () => new Date(nowMs).toISOString();
      const instance = new TableEndpointRegistry({ table: own, rules, now });
      await instance.create(endpoint('claimed-one'));
      expect(await instance.findBySecretName('some-other-apps-secret')).toBeUndefined();

      // Act: an instance of a version from before claims (a rolling deployment) registers an endpoint
      const older = endpoint('from-older-version');
      await writeRowWithoutClaim(own, older);
      nowMs += 4 * 60_000;
      const soon = await instance.findBySecretName(older.secretName);
      nowMs += 60_000;
      const later = await instance.findBySecretName(older.secretName.toUpperCase());

      // Assess: the scan's word that every row has its claim holds for 5 minutes, not for the process
      expect(soon).toBeUndefined();
      expect(later).toEqual(older);
    });

    describe('A claim whose endpoint no longer has that secret (left over)', () => {
      /** Writes the claim of `secretName` naming `endpointId`, as a claim scan's backfill or an older version leaves it. */
      async function leftOverClaim(on: TableClient, secretName: string, endpointId: string): Promise<void> {
        await on.upsertEntity(
          { partitionKey: 'endpoint', rowKey: `~secret~${secretName}`, endpointId },
          'Replace',
        );
      }

      it('answers the secret of an endpoint renamed since as nobody’s, and lets another endpoint register it', async () => {
        // Prepare: a claim scan's backfill met a rename of the endpoint's secret and wrote the old secret's claim
        await admin.register({
          id: 'stale-renamed',
          arm: endpoint('stale-renamed').arm,
          secretName: 'stale-old',
        });
        await admin.update('stale-renamed', { secretName: 'stale-new' });
        await leftOverClaim(table, 'stale-old', 'stale-renamed');

        // Act
        const beforeTaken = await registry.findBySecretName('STALE-OLD');
        const taker = await admin
          .register({ id: 'stale-taker', arm: endpoint('stale-taker').arm, secretName: 'Stale-Old' })
          .catch((e: unknown) => e);
        const second = await registry
          .create({ ...endpoint('stale-second'), secretName: 'stale-old' })
          .catch((e: unknown) => e);

        // Assess: Key Vault events about the old secret no longer reach the renamed endpoint
        expect(beforeTaken).toBeUndefined();
        expect(taker).toMatchObject({ id: 'stale-taker' });
        expect((await registry.findBySecretName('stale-old'))?.id).toBe('stale-taker');
        expect((await registry.findBySecretName('stale-new'))?.id).toBe('stale-renamed');
        expect(second).toBeInstanceOf(EndpointExistsError);
        expect((second as Error).message).toBe('Secret stale-old already belongs to endpoint stale-taker.');
      });

      it('lets a rename take the secret of an endpoint an older version deleted, leaving its claim', async () => {
        // Prepare: a version from before the claims deleted the endpoint's row only
        await leftOverClaim(table, 'orphaned-key', 'deleted-by-older');
        await admin.register({ id: 'orphan-heir', arm: endpoint('orphan-heir').arm });

        // Act
        const missed = await registry.findBySecretName('orphaned-key');
        const renamed = await admin
          .update('orphan-heir', { secretName: 'Orphaned-Key' })
          .catch((e: unknown) => e);

        // Assess
        expect(missed).toBeUndefined();
        expect(renamed).toMatchObject({ id: 'orphan-heir', secretName: 'Orphaned-Key' });
        expect((await registry.findBySecretName('orphaned-key'))?.id).toBe('orphan-heir');
        expect(await table.getEntity('endpoint', '~secret~orphaned-key')).toMatchObject({
          endpointId: 'orphan-heir',
        });
      });

      it('finds the row that holds a secret whose claim names another that renamed it', async () => {
        // Prepare: an older version renamed a row away from its secret and registered another with it, unclaimed
        const own = TableClient.fromConnectionString(azurite.connectionString, 'staleSecretHolders', {
          allowInsecureConnection: true,
        });
        await own.createTable();
        const here = new TableEndpointRegistry({ table: own, rules, now: () => new Date().toISOString() });
        await here.create({ ...endpoint('moved-away'), secretName: 'passed-on' });
        const moved = { ...(await here.get('moved-away'))!, secretName: 'moved-away-key' };
        await own.updateEntity(
          {
            partitionKey: 'endpoint',
            rowKey: 'moved-away',
            endpoint: JSON.stringify(moved),
            secretName: moved.secretName,
          },
          'Merge',
        );
        await writeRowWithoutClaim(own, { ...endpoint('passed-to'), secretName: 'passed-on' });

        // Act
        const owner = await here.findBySecretName('passed-on');

        // Assess
        expect(owner?.id).toBe('passed-to');
      });

      it('is taken over by a claim scan for the row that holds the secret, so misses stop walking the table', async () => {
        // Prepare: a claim naming an endpoint renamed away from the secret, and a row from before claims
        // that holds it (an older version renamed the one and registered the other)
        const own = TableClient.fromConnectionString(azurite.connectionString, 'staleClaimScans', {
          allowInsecureConnection: true,
          additionalPolicies: [{ policy: scanCounter, position: 'perCall' }],
        });
        await own.createTable();
        const here = new TableEndpointRegistry({ table: own, rules, now: () => new Date().toISOString() });
        await here.create(endpoint('gave-away'));
        await leftOverClaim(own, 'handed-on', 'gave-away');
        await writeRowWithoutClaim(own, { ...endpoint('handed-to'), secretName: 'handed-on' });
        const restarted = new TableEndpointRegistry({
          table: own,
          rules,
          now: () => new Date().toISOString(),
        });
        scans = 0;

        // Act: Key Vault events about other apps' secrets, then about the one handed on
        const first = await restarted.findBySecretName('some-other-apps-secret');
        const walksOfFirst = scans;
        const second = await restarted.findBySecretName('another-apps-secret');
        const heir = await restarted.findBySecretName('HANDED-ON');

        // Assess: one walk, which claimed the secret for the row that holds it (it used to find the claim
        // held, and every miss walked the table again until someone edited that row)
        expect([first, second]).toEqual([undefined, undefined]);
        expect(heir?.id).toBe('handed-to');
        expect(walksOfFirst).toBe(1);
        expect(scans).toBe(1);
        expect(await own.getEntity('endpoint', '~secret~handed-on')).toMatchObject({
          endpointId: 'handed-to',
        });
      });

      it('is not what two rows from before claims sharing a secret hold: the first keeps it, and misses keep walking', async () => {
        // Prepare: two rows from before claims with one secret (versions before claims let that happen)
        const own = TableClient.fromConnectionString(azurite.connectionString, 'sharedSecretScans', {
          allowInsecureConnection: true,
          additionalPolicies: [{ policy: scanCounter, position: 'perCall' }],
        });
        await own.createTable();
        await writeRowWithoutClaim(own, { ...endpoint('shared-first'), secretName: 'shared-key' });
        await writeRowWithoutClaim(own, { ...endpoint('shared-second'), secretName: 'shared-key' });
        const restarted = new TableEndpointRegistry({
          table: own,
          rules,
          now: () => new Date().toISOString(),
        });
        scans = 0;

        // Act
        const misses = [
          await restarted.findBySecretName('some-other-apps-secret'),
          await restarted.findBySecretName('another-apps-secret'),
        ];
        const owner = await restarted.findBySecretName('shared-key');

        // Assess: the claim names the first row, which holds the secret; the second never takes it
        expect(misses).toEqual([undefined, undefined]);
        expect(owner?.id).toBe('shared-first');
        expect(scans).toBe(2);
        expect(await own.getEntity('endpoint', '~secret~shared-key')).toMatchObject({
          endpointId: 'shared-first',
        });
      });

      it('is left inert by a claim scan that meets a rename of the secret it claims', async () => {
        // Prepare: a row from before claims, renamed just before the scan that passed it writes its claim
        const raced = new FlakyTableWrites();
        const own = TableClient.fromConnectionString(azurite.connectionString, 'scanMeetsRename', {
          allowInsecureConnection: true,
          retryOptions: { retryDelayInMs: 10 },
          additionalPolicies: [{ policy: raced.policy, position: 'perRetry' }],
        });
        await own.createTable();
        await writeRowWithoutClaim(own, { ...endpoint('scan-renamed'), secretName: 'scanned-name' });
        const instance = new TableEndpointRegistry({
          table: own,
          rules,
          now: () => new Date().toISOString(),
        });
        const ownAdmin = adminOver(instance, rules);
        // Another instance renames it (its registry write alone: its admin service would join this walk).
        const other = new TableEndpointRegistry({ table: own, rules, now: () => new Date().toISOString() });
        raced.beforeNextWrite(async () => {
          const { endpoint: stored, version } = (await other.getVersioned('scan-renamed'))!;
          await other.replace({ ...stored, secretName: 'renamed-name' }, version);
        });

        // Act
        await instance.findBySecretName('some-other-apps-secret');
        const leftOver = await own.getEntity('endpoint', '~secret~scanned-name').catch(() => undefined);
        const oldName = await instance.findBySecretName('scanned-name');
        const registered = await ownAdmin
          .register({ id: 'scan-taker', arm: endpoint('scan-taker').arm, secretName: 'scanned-name' })
          .catch((e: unknown) => e);

        // Assess: the scan wrote the old name's claim, which neither routes events nor refuses the name
        expect(raced.pending).toBe(false);
        expect(leftOver).toMatchObject({ endpointId: 'scan-renamed' });
        expect(oldName).toBeUndefined();
        expect(registered).toMatchObject({ id: 'scan-taker' });
        expect((await instance.findBySecretName('renamed-name'))?.id).toBe('scan-renamed');
      });
    });

    it('counts a delete whose answer was lost as done', async () => {
      await registry.create(endpoint('deleted-once'));
      flaky.dropNextAnswer();
      await registry.delete('deleted-once');
      expect(flaky.pending).toBe(false);
      expect(await registry.get('deleted-once')).toBeUndefined();
      await expect(registry.create(endpoint('deleted-once'))).resolves.toBeUndefined();
    });
  });

  describe('A row edited by hand into something that is no endpoint (admin API over HTTP)', () => {
    const pasted = 'pasted-key-value-0123456789';
    const journal = new InMemoryRotationJournal(new FakeClock(), new FaultPlan());
    const jobs = new InMemoryRotationJobQueue();
    let http: { admin: EndpointAdminService };
    beforeAll(() => {
      const secrets = new InMemorySecretStore(new FakeClock(), new FaultPlan());
      http = {
        admin: new EndpointAdminService({ registry, journal, secrets, jobs, clock: systemClock, rules }),
      };
    });

    const call = (
      handler: (r: HttpRequest, c: InvocationContext) => Promise<HttpResponseInit>,
      method: string,
      id: string | undefined,
      body?: unknown,
    ): Promise<HttpResponseInit> =>
      handler(
        new HttpRequest({
          method,
          url: `http://localhost:7071/api/manage/endpoints${id ? `/${id}` : ''}`,
          headers: { 'content-type': 'application/json' },
          params: id ? { id } : {},
          ...(body !== undefined ? { body: { string: JSON.stringify(body) } } : {}),
        }),
        new InvocationContext({ invocationId: 'inv-1', logHandler: () => undefined }),
      );
    const problemOf = (r: HttpResponseInit) => JSON.parse(r.body as string) as Record<string, unknown>;
    const rowOf = (rowKey: string) =>
      table.getEntity('endpoint', rowKey).then(
        () => true,
        () => false,
      );

    /** Registers `id`, leaves a rotation of it in progress in the journal, then edits its row by hand. */
    async function handEdited(id: string, edit: Record<string, unknown>): Promise<void> {
      await admin.register({ id, arm: endpoint(id).arm });
      journal.seedState(id, {
        lastRotatedAt: '2026-01-01T00:00:00.000Z',
        lastRotationId: 'r-1',
        active: {
          rotationId: 'r-2',
          slot: 'Secondary',
          step: 'set',
          reason: 'schedule',
          startedAt: '2026-01-05T00:00:00.000Z',
        },
      });
      await table.updateEntity({ partitionKey: 'endpoint', rowKey: id, ...edit }, 'Merge');
    }

    it('answers GET, PATCH, rotate and a registration of the id 409 ENDPOINT_RECORD_UNREADABLE, its journal untouched', async () => {
      // Prepare
      await handEdited('hand-edited', { endpoint: `{"id": "hand-edited", "note": "${pasted}"` });
      const journalBefore = journal.dump();
      const item = manageEndpointHandler(() => http);

      // Act
      const answers = [
        await call(item, 'GET', 'hand-edited'),
        await call(item, 'PATCH', 'hand-edited', { enabled: false }),
        await call(
          manageEndpointRotateHandler(() => http),
          'POST',
          'hand-edited',
        ),
        await call(
          manageEndpointsHandler(() => http),
          'POST',
          undefined,
          {
            id: 'hand-edited',
            arm: endpoint('hand-edited').arm,
            secretName: 'another-secret',
          },
        ),
      ];

      // Assess: problem details that say what is wrong and how to fix it, never the row's content
      for (const answer of answers) {
        expect(answer.status).toBe(409);
        expect((answer.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
        const problem = problemOf(answer);
        expect(problem).toMatchObject({ status: 409, code: 'ENDPOINT_RECORD_UNREADABLE' });
        expect(problem['detail']).toBe(
          'Endpoint hand-edited is stored in a form this app cannot read: its endpoint column is not JSON. ' +
            'DELETE it and register it again, or correct its row (row key hand-edited) in the endpoint registry table.',
        );
        expect(JSON.stringify(problem)).not.toContain(pasted);
      }
      expect(journal.dump()).toBe(journalBefore);
      expect(jobs.jobs).toEqual([]);
    });

    it.each([
      ['its secretName column as written', {}],
      ['its secretName column edited too', { secretName: 'Not a secret name!' }],
    ])(
      'deletes it with its secret-name claim (%s), after which the id and its secret register again',
      async (_what, alsoEdited) => {
        // Prepare
        const id = `deleted-${Object.keys(alsoEdited).length}`;
        await handEdited(id, { endpoint: '42', ...alsoEdited });
        const item = manageEndpointHandler(() => http);

        // Act
        const deleted = await call(item, 'DELETE', id);
        const [row, claim] = [await rowOf(id), await rowOf(`~secret~${id}-key`)];
        const again = await call(
          manageEndpointsHandler(() => http),
          'POST',
          undefined,
          {
            id,
            arm: endpoint(id).arm,
          },
        );

        // Assess
        expect(deleted.status).toBe(204);
        expect([row, claim]).toEqual([false, false]);
        expect(again.status).toBe(201);
        expect(await registry.get(id)).toMatchObject({ id, secretName: `${id}-key` });
      },
    );

    /** The claim rows, of any kind, that name endpoint `id`. */
    async function claimsNaming(id: string): Promise<string[]> {
      const keys: string[] = [];
      const rows = table.listEntities<{ rowKey: string }>({
        queryOptions: { filter: `PartitionKey eq 'endpoint' and RowKey ge '~' and endpointId eq '${id}'` },
      });
      for await (const row of rows) keys.push(row.rowKey);
      return keys;
    }

    it('deletes it with the claim of its Azure ML endpoint, whatever its endpoint column now says of its coordinates', async () => {
      // Prepare: JSON of an endpoint whose coordinates were edited elsewhere and whose period is no number
      const id = 'deleted-coords';
      const registered = endpoint(id);
      const armClaim = `~target~${armIdentity(registered)}`;
      await handEdited(id, {
        endpoint: JSON.stringify({
          ...registered,
          arm: { ...registered.arm, name: 'edited-elsewhere' },
          rotationPeriodHours: 'weekly',
        }),
      });
      const claimsBefore = await claimsNaming(id);
      const item = manageEndpointHandler(() => http);

      // Act
      const deleted = await call(item, 'DELETE', id);

      // Assess: its secret's claim and its coordinates' claim went in the row's transaction
      expect(claimsBefore).toEqual(expect.arrayContaining([armClaim, `~secret~${id}-key`]));
      expect(deleted.status).toBe(204);
      expect(await rowOf(id)).toBe(false);
      expect(await rowOf(armClaim)).toBe(false);
      expect(await claimsNaming(id)).toEqual([]);
    });

    it('answers a registration of the Azure ML endpoint its claim holds 409 ENDPOINT_RECORD_UNREADABLE naming it, until it is deleted', async () => {
      // Prepare: its coordinates may still be these, so its claim is neither taken over nor ignored
      const id = 'held-by-unreadable';
      await handEdited(id, { endpoint: 'not json' });
      const other = { id: 'wants-its-place', arm: endpoint(id).arm };

      // Act
      const byAdmin = await admin.register(other).catch((e: unknown) => e);
      const direct = await registry
        .create(validateEndpoint(other, rules, new Date().toISOString()))
        .catch((e: unknown) => e);
      const lookup = await registry.findByArm('onlineEndpoint', other.arm).catch((e: unknown) => e);
      await admin.remove(id);
      const afterDelete = await admin.register(other);

      // Assess
      for (const refusal of [byAdmin, direct, lookup]) {
        expect(refusal).toBeInstanceOf(EndpointRecordUnreadableError);
        expect(refusal).toMatchObject({ status: 409, code: 'ENDPOINT_RECORD_UNREADABLE', endpointId: id });
      }
      expect(afterDelete.id).toBe('wants-its-place');
      expect((await registry.findByArm('onlineEndpoint', other.arm))?.id).toBe('wants-its-place');
    });

    it('is skipped, with the reason logged, by the walk for coordinates no claim names', async () => {
      // Prepare: an unreadable row from before the claims, and a process that has not walked the table yet
      const id = 'legacy-unreadable';
      await table.createEntity({
        partitionKey: 'endpoint',
        rowKey: id,
        endpoint: '[]',
        secretName: `${id}-key`,
      });
      const logger = new CapturingLogger();
      const restarted = new TableEndpointRegistry({
        table,
        rules,
        now: () => new Date().toISOString(),
        logger,
      });

      // Act
      const found = await restarted.findByArm('onlineEndpoint', endpoint('nobody-registered').arm);

      // Assess: no throw, as the listings
      expect(found).toBeUndefined();
      expect(logger.lines).toContainEqual({
        level: 'warn',
        message: 'findByArm => row skipped, unreadable',
        props: { endpointId: id, why: 'its endpoint column is not a JSON object' },
      });
      await registry.delete(id);
    });
  });

  describe('A row registered before ENDPOINTS_FILE declared its Key Vault secret for another endpoint (admin API over HTTP)', () => {
    const jobs = new InMemoryRotationJobQueue();
    const logger = new CapturingLogger();
    let http: { admin: EndpointAdminService };
    const place = (name: string) => ({
      subscriptionId: 'sub-1',
      resourceGroup: 'rg',
      workspace: 'shared-ws',
      name,
    });
    beforeAll(async () => {
      // A row holding the secret, and another; then a deployment declares the secret (in another case) for an
      // entry of another Azure ML endpoint, under another id
      const own = TableClient.fromConnectionString(azurite.connectionString, 'secretDeclaredInFile', {
        allowInsecureConnection: true,
      });
      await own.createTable();
      const now = () => new Date().toISOString();
      const before = new TableEndpointRegistry({ table: own, rules, now });
      await before.create(
        validateEndpoint({ id: 'old-row', arm: place('old'), secretName: 'shared-secret' }, rules, now()),
      );
      await before.create(validateEndpoint({ id: 'other-row', arm: place('other') }, rules, now()));
      const redeployed = new TableEndpointRegistry({
        table: own,
        rules,
        now,
        logger,
        endpointsFile: 'endpoints.json',
        readText: async () =>
          JSON.stringify([{ id: 'file-entry', arm: place('declared'), secretName: 'Shared-Secret' }]),
      });
      const [faults, clock] = [new FaultPlan(), new FakeClock()];
      http = {
        admin: new EndpointAdminService({
          registry: redeployed,
          journal: new InMemoryRotationJournal(clock, faults),
          secrets: new InMemorySecretStore(clock, faults),
          jobs,
          clock: systemClock,
          rules,
        }),
      };
    });

    const call = (
      handler: (r: HttpRequest, c: InvocationContext) => Promise<HttpResponseInit>,
      method: string,
      path: string,
      id: string | undefined,
      body?: unknown,
    ): Promise<HttpResponseInit> =>
      handler(
        new HttpRequest({
          method,
          url: `http://localhost:7071/api/manage/endpoints${path}`,
          headers: { 'content-type': 'application/json' },
          params: id ? { id } : {},
          ...(body !== undefined ? { body: { string: JSON.stringify(body) } } : {}),
        }),
        new InvocationContext({ invocationId: 'inv-1', logHandler: () => undefined }),
      );
    const bodyOf = (r: HttpResponseInit) => JSON.parse(r.body as string) as Record<string, unknown>;
    const item = () => manageEndpointHandler(() => http);

    it('shows why the row is not rotated, answers its POST …/rotate 409 ENDPOINT_DECLARED_IN_FILE, and warns once naming both ids', async () => {
      // Act
      const status = await call(item(), 'GET', '/old-row', 'old-row');
      const again = await call(item(), 'GET', '/old-row', 'old-row');
      const rotate = await call(
        manageEndpointRotateHandler(() => http),
        'POST',
        '/old-row/rotate',
        'old-row',
      );

      // Assess: the entry rotates its own endpoint's keys into the secret; the row would store its keys over them
      expect(status.status).toBe(200);
      const shown = status.jsonBody as Record<string, unknown>;
      expect(shown['declaredInFile']).toEqual({
        entry: 'file-entry',
        note:
          'ENDPOINTS_FILE declares this Key Vault secret, shared-secret, for file-entry, which rotates the keys of ' +
          "its own Azure ML endpoint into it: old-row is not rotated, as the two would overwrite each other's keys " +
          'there. PATCH its secretName to a secret of its own and point its clients at that, or DELETE old-row.',
      });
      expect(shown).not.toHaveProperty('nextDueAt');
      expect(again.jsonBody).toEqual(status.jsonBody);
      expect(rotate.status).toBe(409);
      expect((rotate.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
      expect(bodyOf(rotate)).toMatchObject({
        status: 409,
        code: 'ENDPOINT_DECLARED_IN_FILE',
        detail:
          'Endpoint old-row is not rotated: ENDPOINTS_FILE declares its Key Vault secret shared-secret for ' +
          'file-entry, which rotates the keys of its own Azure ML endpoint into it. PATCH the secretName of ' +
          'old-row to a secret of its own and point its clients at that, or DELETE old-row.',
      });
      expect(jobs.jobs).toEqual([]);
      expect(logger.lines).toEqual([
        {
          level: 'warn',
          message:
            'fileEntryClash => Key Vault secret declared in ENDPOINTS_FILE too, row not rotated, PATCH its ' +
            'secretName or DELETE it',
          props: { endpointId: 'old-row', alsoRegisteredAs: 'file-entry' },
        },
      ]);
    });

    it('answers a registration or a rename onto the secret 409 ENDPOINT_EXISTS naming the entry as an ENDPOINTS_FILE entry and the way out, writing nothing', async () => {
      // Act
      const registered = await call(
        manageEndpointsHandler(() => http),
        'POST',
        '',
        undefined,
        {
          id: 'new-row',
          arm: place('new'),
          secretName: 'SHARED-SECRET',
        },
      );
      const renamed = await call(item(), 'PATCH', '/other-row', 'other-row', { secretName: 'shared-SECRET' });

      // Assess
      for (const [answer, name] of [
        [registered, 'SHARED-SECRET'],
        [renamed, 'shared-SECRET'],
      ] as const) {
        expect(answer.status).toBe(409);
        expect(bodyOf(answer)).toMatchObject({
          code: 'ENDPOINT_EXISTS',
          detail:
            `Secret ${name} already belongs to endpoint file-entry, which ENDPOINTS_FILE declares: it rotates the ` +
            'keys of its own Azure ML endpoint into that secret. Name a Key Vault secret of its own in secretName ' +
            '(the entry changes only with ENDPOINTS_FILE).',
        });
      }
      expect((await call(item(), 'GET', '/new-row', 'new-row')).status).toBe(404);
      const other = (await call(item(), 'GET', '/other-row', 'other-row')).jsonBody as {
        endpoint: ManagedEndpoint;
      };
      expect(other.endpoint.secretName).toBe('other-row-key');
    });

    it('changes the row holding the secret by a PATCH that keeps it (disabled, enabled again): still not rotated, the entry still the owner', async () => {
      // Act
      const disabled = await call(item(), 'PATCH', '/old-row', 'old-row', { enabled: false });
      const enabled = await call(item(), 'PATCH', '/old-row', 'old-row', { enabled: true });
      const status = (await call(item(), 'GET', '/old-row', 'old-row')).jsonBody as Record<string, unknown>;

      // Assess
      expect(disabled.status).toBe(200);
      expect((disabled.jsonBody as ManagedEndpoint).enabled).toBe(false);
      expect(enabled.status).toBe(200);
      expect(enabled.jsonBody).toMatchObject({ enabled: true, secretName: 'shared-secret' });
      expect(status['declaredInFile']).toMatchObject({ entry: 'file-entry' });
      expect(status).not.toHaveProperty('nextDueAt');
      expect((await http.admin.listPage({ top: 10 })).items.map((e) => e.id)).toContain('old-row');
    });

    it('rotates the row again once a PATCH gives it a secret of its own', async () => {
      // Act
      const renamed = await call(item(), 'PATCH', '/old-row', 'old-row', { secretName: 'old-row-own' });
      const status = (await call(item(), 'GET', '/old-row', 'old-row')).jsonBody as Record<string, unknown>;
      const rotate = await call(
        manageEndpointRotateHandler(() => http),
        'POST',
        '/old-row/rotate',
        'old-row',
      );

      // Assess
      expect(renamed.status).toBe(200);
      expect(status).not.toHaveProperty('declaredInFile');
      expect(status['nextDueAt']).toBeDefined();
      expect(rotate.status).toBe(202);
      expect(jobs.jobs.map((job) => job.endpointId)).toEqual(['old-row']);
    });
  });
});
