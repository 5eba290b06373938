import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { TableClient } from '@azure/data-tables';

import { type RunningAzurite, startAzurite } from '../../local/azurite';
import { systemClock } from '../../shared/clock';
import { TableEndpointRegistry } from '../../shared/endpoints/TableEndpointRegistry';
import { validateEndpoint } from '../../shared/endpoints/validateEndpoint';
import { EndpointAutoRegistrar } from '../../shared/events/EndpointAutoRegistrar';
import type { IncomingEvent } from '../../shared/events/IncomingEvent';
import { createLogger, type Logger, silentLogger } from '../../shared/logging';
import { EndpointAdminService } from '../../shared/rotation/EndpointAdminService';
import { RotationScheduler } from '../../shared/rotation/RotationScheduler';
import { FakeEndpointDescriber } from '../fakes/events/FakeEndpointDescriber';
import { FakeClock } from '../fakes/FakeClock';
import { FaultPlan } from '../fakes/rotation/FaultPlan';
import { InMemoryRotationJobQueue } from '../fakes/rotation/InMemoryRotationJobQueue';
import { InMemoryRotationJournal } from '../fakes/rotation/InMemoryRotationJournal';
import { adminOver, writeRowWithoutClaim } from '../support/endpointTable';

const rules = { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24 };
const at = (workspace: string, name: string) => ({
  subscriptionId: 'sub-1',
  resourceGroup: 'ml-rg',
  workspace,
  name,
});
const WS =
  '/subscriptions/sub-1/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/ml-ws';
const deleted = (resource: string): IncomingEvent => ({
  schema: 'eventGrid',
  id: `delete-${resource}`,
  type: 'Microsoft.Resources.ResourceDeleteSuccess',
  source: '/subscriptions/sub-1',
  subject: resource,
  data: { resourceUri: resource },
});

/**
 * The auto-registrar over `registry` and `admin`, for endpoints tagged to rotate, logging to `logger`; other
 * ports in memory.
 */
const registrarOver = (
  registry: TableEndpointRegistry,
  admin: EndpointAdminService,
  logger: Logger = silentLogger,
) =>
  new EndpointAutoRegistrar({
    rotation: {
      registry,
      admin,
      jobs: new InMemoryRotationJobQueue(),
      drift: { check: async () => ({ status: 'inSync' as const }) },
      secrets: { getCurrent: async () => undefined },
    },
    describer: new FakeEndpointDescriber(),
    clock: systemClock,
    logger,
    enabled: true,
    filter: 'aml-credential-broker=rotate',
  });

/**
 * Table storage answers at most `limit` rows a query here (real storage cuts answers short too), and
 * counts the queries (point reads are not queries) and the most rows one asked for.
 */
class Wire {
  queries = 0;
  largestAsked = 0;
  /** The distinct \$select of the queries. */
  readonly selects = new Set<string>();
  get selected(): string[] {
    return [...this.selects];
  }
  constructor(private readonly limit: number) {}
  readonly policy: PipelinePolicy = {
    name: 'wire',
    sendRequest: async (request, next) => {
      const top = /([?&](?:%24|\$)top=)(\d+)/.exec(request.url);
      if (request.method === 'GET' && /[?&](%24|\$)filter=/.test(request.url)) this.queries++;
      const select = /[?&](?:%24|\$)select=([^&]*)/.exec(request.url);
      if (select) this.selects.add(decodeURIComponent(select[1]!));
      if (request.method === 'GET' && top) {
        this.largestAsked = Math.max(this.largestAsked, Number(top[2]));
        request.url = request.url.replace(top[0], `${top[1]}${Math.min(Number(top[2]), this.limit)}`);
      }
      return next(request);
    },
  };
}

/** The rotation timer and the auto-registrar walking the endpoint registry in Azurite, page by page. */
describe('Registry walks: the rotation timer and the auto-registrar (Azurite)', () => {
  let azurite: RunningAzurite;
  const wire = new Wire(40);
  let table: TableClient;
  let registry: TableEndpointRegistry;
  let admin: EndpointAdminService;
  const fakeClock = new FakeClock();
  const faults = new FaultPlan();
  // 260 rows in the table, in workspaces other than ml-ws but the few below; ENDPOINTS_FILE entries
  // before, between and after them, one over a row of the table.
  const tableIds = Array.from({ length: 260 }, (_, i) => `ep-${String(i).padStart(3, '0')}`);
  const fileIds = ['aa-file', 'ep-100', 'ep-150-file', 'zz-file'];
  const inWorkspace = new Set(['ep-010', 'ep-130', 'ep-250']);

  beforeAll(async () => {
    azurite = await startAzurite();
    const now = () => new Date().toISOString();
    table = TableClient.fromConnectionString(azurite.connectionString, 'walkedEndpoints', {
      allowInsecureConnection: true,
      retryOptions: { retryDelayInMs: 10 },
      additionalPolicies: [{ policy: wire.policy, position: 'perCall' }],
    });
    registry = new TableEndpointRegistry({
      table,
      rules,
      now,
      endpointsFile: 'endpoints.json',
      readText: async () => JSON.stringify(fileIds.map((id) => ({ id, arm: at('file-ws', id) }))),
    });
    admin = adminOver(registry, rules);
    const arm = (id: string) => at(inWorkspace.has(id) ? 'ml-ws' : 'other-ws', id);
    for (const id of tableIds) {
      const endpoint = validateEndpoint({ id, arm: arm(id) }, rules, now());
      // The registry refuses a file entry's id; a row written before the file declared it is still there.
      if (fileIds.includes(id)) await writeRowWithoutClaim(table, endpoint);
      else await registry.create(endpoint);
    }
    // Registered by auto-registration (its id derives from the coordinates) and by hand under another id.
    await registry.create(validateEndpoint({ id: 'ml-ws-auto', arm: at('ml-ws', 'auto') }, rules, now()));
  }, 120_000);

  afterAll(async () => {
    await azurite?.stop();
  });

  it('the timer checks every endpoint once, file entries merged, asking storage for a page of 100 at a time', async () => {
    // Prepare
    const journal = new InMemoryRotationJournal(fakeClock, faults);
    const checked: string[] = [];
    const getState = journal.getState.bind(journal);
    journal.getState = async (id) => (checked.push(id), getState(id));
    const jobs = new InMemoryRotationJobQueue();
    const scheduler = new RotationScheduler({
      registry,
      journal,
      jobs,
      clock: fakeClock,
      logger: silentLogger,
    });
    wire.largestAsked = 0;

    // Act
    const result = await scheduler.enqueueDue(fakeClock.now());

    // Assess
    const every = [...new Set([...tableIds, ...fileIds, 'ml-ws-auto'])].sort();
    expect(checked.sort()).toEqual(every);
    expect(result).toEqual({ due: every.length, enqueued: every.length, failed: 0 });
    // Pages of 100 ($top), each read in requests of 40 rows at most (storage's cut): never the whole table.
    expect(wire.largestAsked).toBe(100);
  });

  it('the auto-registrar finds an endpoint it registered with a point read, and one registered by hand by walking', async () => {
    // Prepare
    const registrar = registrarOver(registry, admin);
    wire.queries = 0;

    // Act
    const auto = await registrar.handle(deleted(`${WS}/onlineEndpoints/auto`));
    const queriesForAuto = wire.queries;
    const byHand = await registrar.handle(deleted(`${WS}/onlineEndpoints/ep-130`));
    const workspace = await registrar.handle(deleted(WS));

    // Assess
    expect(auto).toMatchObject({ action: 'retired', endpointId: 'ml-ws-auto' });
    expect(queriesForAuto).toBe(0);
    expect(byHand).toMatchObject({ action: 'retired', endpointId: 'ep-130' });
    expect(workspace.action).toBe('retired');
    for (const id of ['ml-ws-auto', ...inWorkspace])
      expect((await registry.get(id))?.retiredAt).toBeDefined();
    expect((await registry.get('ep-011'))?.retiredAt).toBeUndefined();
    expect(wire.largestAsked).toBeLessThanOrEqual(100);
  });

  it('a Key Vault event about a secret no claim names walks the rows page by page, keys and secret names only, once', async () => {
    // Prepare: a row from before claims existed, after every other (while one is left, misses scan)
    const legacy = validateEndpoint(
      { id: 'zz-legacy', arm: at('other-ws', 'zz-legacy') },
      rules,
      new Date().toISOString(),
    );
    await writeRowWithoutClaim(table, legacy);
    [wire.queries, wire.largestAsked] = [0, 0];

    // Act
    const found = await registry.findBySecretName('ZZ-LEGACY-KEY');
    const queriesForFirst = wire.queries;
    const none = await registry.findBySecretName('another-apps-secret');

    // Assess: 263 rows in answers of 40 at most, once: the walk claimed the row from before claims, so
    // the next miss is a point read (it used to walk again, 14 queries in all)
    expect(found).toEqual(legacy);
    expect(none).toBeUndefined();
    expect(queriesForFirst).toBe(7);
    expect(wire.queries).toBe(7);
    expect(wire.selected).toEqual(['RowKey,secretName']);
  });

  it('an ARM event about an endpoint nobody registered walks the rows once, then costs a point read', async () => {
    // Prepare: writes of untagged endpoints in a busy subscription, each raising an event; a process that
    // starts against this table, whose rows from before coordinate claims are claimed by its first walk
    const restarted = new TableEndpointRegistry({ table, rules, now: () => new Date().toISOString() });
    const registrar = registrarOver(restarted, adminOver(restarted, rules));
    const untagged = (name: string): IncomingEvent => ({
      ...deleted(`${WS}/onlineEndpoints/${name}`),
      id: `write-${name}`,
      type: 'Microsoft.Resources.ResourceWriteSuccess',
    });
    [wire.queries, wire.largestAsked] = [0, 0];
    wire.selects.clear();

    // Act
    await registrar.handle(untagged('untagged-0'));
    const queriesForFirst = wire.queries;
    for (const name of ['untagged-1', 'untagged-2', 'untagged-3']) await registrar.handle(untagged(name));
    const byHand = await restarted.findByArm('onlineEndpoint', at('ml-ws', 'ep-130'));

    // Assess: 263 rows read 100 at a time (storage answers 40 a request: 3 + 3 + 2 requests), once
    expect(queriesForFirst).toBe(8);
    expect(wire.queries).toBe(8);
    expect(wire.largestAsked).toBe(100);
    expect(wire.selected).toEqual(['RowKey,endpoint']);
    expect(byHand?.id).toBe('ep-130');
  });

  /** A new, empty table of the test's own in Azurite. */
  async function newTable(name: string): Promise<TableClient> {
    const own = TableClient.fromConnectionString(azurite.connectionString, name, {
      allowInsecureConnection: true,
    });
    await own.createTable();
    return own;
  }

  /**
   * A table of its own, 130 rows, 7 edited by hand, and file entries that cut the first page of 100 short of
   * its rows, so that the next page reads its last rows (two unreadable) again; the registry over it logs to
   * `registryLines`.
   */
  async function registryWithUnreadableRows(name: string) {
    const own = await newTable(name);
    const ids = Array.from({ length: 130 }, (_, i) => `ep-${String(i).padStart(3, '0')}`);
    const unreadable = ['ep-001', 'ep-003', 'ep-005', 'ep-007', 'ep-050', 'ep-098', 'ep-099'];
    const files = Array.from({ length: 10 }, (_, i) => `ep-0${i}0-file`);
    const now = new Date().toISOString();
    for (const id of ids)
      await own.createEntity({
        partitionKey: 'endpoint',
        rowKey: id,
        endpoint: unreadable.includes(id)
          ? `{"id": "${id}", `
          : JSON.stringify(validateEndpoint({ id, arm: at('other-ws', id) }, rules, now)),
        secretName: `${id}-key`,
      });
    const registryLines: string[] = [];
    const walked = new TableEndpointRegistry({
      table: own,
      rules,
      now: () => now,
      endpointsFile: 'endpoints.json',
      readText: async () => JSON.stringify(files.map((id) => ({ id, arm: at('file-ws', id) }))),
      logger: createLogger('EndpointRegistry', (level, line) => registryLines.push(`${level} ${line}`)),
    });
    return { walked, unreadable, registryLines };
  }

  /** A rotation timer over `walked` and a journal of its own, its log lines kept, as in production. */
  const loggedScheduler = (walked: TableEndpointRegistry) => {
    const lines: string[] = [];
    const jobs = new InMemoryRotationJobQueue();
    const scheduler = new RotationScheduler({
      registry: walked,
      journal: new InMemoryRotationJournal(fakeClock, faults),
      jobs,
      clock: fakeClock,
      logger: createLogger('RotationScheduler', (level, line) => lines.push(`${level} ${line}`)),
    });
    return { scheduler, jobs, lines };
  };

  it("the timer's summary counts the rows it skipped as unreadable, each warned about once, pages cut by file entries", async () => {
    // Prepare
    const { walked, unreadable, registryLines } = await registryWithUnreadableRows('unreadableEndpoints');
    const { scheduler, lines } = loggedScheduler(walked);

    // Act
    const result = await scheduler.enqueueDue(fakeClock.now());

    // Assess
    expect(result).toEqual({ due: 133, enqueued: 133, failed: 0 });
    expect(lines.filter((l) => l.includes('enqueueDue => done'))).toEqual([
      expect.stringMatching(/ unreadable=7 unreadableIds=ep-001,ep-003,ep-005,ep-007,ep-050 elapsedMs=\d+$/),
    ]);
    const warned = registryLines.map((l) => /row skipped, unreadable endpointId=(\S+)/.exec(l)?.[1]);
    expect(warned).toEqual(unreadable);
  });

  it('the walk of a deleted workspace sums up the rows it skipped as unreadable, each warned about once', async () => {
    // Prepare
    const { walked, unreadable, registryLines } = await registryWithUnreadableRows('unreadableWalked');
    const lines: string[] = [];
    const logger = createLogger('EndpointAutoRegistrar', (level, line) => lines.push(`${level} ${line}`));
    const registrar = registrarOver(walked, adminOver(walked, rules), logger);

    // Act
    const outcome = await registrar.handle(deleted(WS));

    // Assess: none of its endpoints is registered here, but 7 rows that may be were left alone
    expect(outcome.action).toBe('notManaged');
    expect(lines).toEqual([
      'warn EndpointAutoRegistrar => autoRegister => workspace deleted, rows skipped as unreadable left as ' +
        'they are unreadable=7 unreadableIds=ep-001,ep-003,ep-005,ep-007,ep-050 resourceGroup=ml-rg workspace=ml-ws',
    ]);
    const warned = registryLines.map(
      (l) => /listPage => row skipped, unreadable endpointId=(\S+)/.exec(l)?.[1],
    );
    expect(warned).toEqual(unreadable);
  });

  it('the timer leaves to an ENDPOINTS_FILE entry the row registered at its endpoint before, counting it', async () => {
    // Prepare: a table of its own, a row at the endpoint the file later declared under another id
    const own = await newTable('declaredInFileWalked');
    const now = new Date().toISOString();
    const before = new TableEndpointRegistry({ table: own, rules, now: () => now });
    for (const id of ['ep-old', 'ep-other'])
      await before.create(validateEndpoint({ id, arm: at('ml-ws', id) }, rules, now));
    const redeployed = new TableEndpointRegistry({
      table: own,
      rules,
      now: () => now,
      endpointsFile: 'endpoints.json',
      readText: async () => JSON.stringify([{ id: 'ep-file', arm: at('ML-WS', 'EP-OLD') }]),
    });
    const { scheduler, jobs, lines } = loggedScheduler(redeployed);

    // Act
    const result = await scheduler.enqueueDue(fakeClock.now());

    // Assess
    expect(result).toEqual({ due: 2, enqueued: 2, failed: 0 });
    expect(jobs.jobs.map((j) => j.endpointId).sort()).toEqual(['ep-file', 'ep-other']);
    expect(lines.filter((l) => l.startsWith('warn'))).toEqual([
      'warn RotationScheduler => enqueueDue => endpoint declared in ENDPOINTS_FILE too, not rotated, DELETE it ' +
        'endpointId=ep-old alsoRegisteredAs=ep-file',
    ]);
    expect(lines.filter((l) => l.includes('enqueueDue => done'))).toEqual([
      expect.stringMatching(/ endpoints=2 .* declaredInFile=1 declaredInFileIds=ep-old elapsedMs=\d+$/),
    ]);
  });

  it('the timer leaves to an ENDPOINTS_FILE entry the row registered before with its Key Vault secret, the registry naming the pair once', async () => {
    // Prepare: a row holding a secret the file later declared (in another case) for another endpoint under another id
    const own = await newTable('secretDeclaredInFileWalked');
    const now = new Date().toISOString();
    const before = new TableEndpointRegistry({ table: own, rules, now: () => now });
    await before.create(
      validateEndpoint({ id: 'ep-old', arm: at('ml-ws', 'ep-old'), secretName: 'shared' }, rules, now),
    );
    await before.create(validateEndpoint({ id: 'ep-other', arm: at('ml-ws', 'ep-other') }, rules, now));
    const registryLines: string[] = [];
    const redeployed = new TableEndpointRegistry({
      table: own,
      rules,
      now: () => now,
      endpointsFile: 'endpoints.json',
      readText: async () =>
        JSON.stringify([{ id: 'ep-file', arm: at('ml-ws', 'ep-file'), secretName: 'SHARED' }]),
      logger: createLogger('EndpointRegistry', (level, line) => registryLines.push(`${level} ${line}`)),
    });
    const { scheduler, jobs, lines } = loggedScheduler(redeployed);

    // Act: two ticks of one process
    const result = await scheduler.enqueueDue(fakeClock.now());
    await scheduler.enqueueDue(fakeClock.now());

    // Assess: the row would rotate its own endpoint's keys into the secret the entry rotates its keys into
    expect(result).toEqual({ due: 2, enqueued: 2, failed: 0 });
    expect(jobs.jobs.map((j) => j.endpointId).sort()).toEqual(['ep-file', 'ep-other']);
    expect(registryLines).toEqual([
      'warn EndpointRegistry => fileEntryClash => Key Vault secret declared in ENDPOINTS_FILE too, row not rotated, ' +
        'PATCH its secretName or DELETE it endpointId=ep-old alsoRegisteredAs=ep-file',
    ]);
    expect(lines.filter((l) => l.includes('enqueueDue => done'))).toEqual([
      expect.stringMatching(/ endpoints=2 .* declaredInFile=1 declaredInFileIds=ep-old elapsedMs=\d+$/),
      expect.stringMatching(/ endpoints=2 .* declaredInFile=1 declaredInFileIds=ep-old elapsedMs=\d+$/),
    ]);
  });
});
