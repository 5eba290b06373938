import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { TableClient } from '@azure/data-tables';
import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';

import { manageClientsHandler } from '../../functions/manageClients';
import { manageEndpointsHandler } from '../../functions/manageEndpoints';
import { type RunningAzurite, startAzurite } from '../../local/azurite';
import { BrokerClientAdminService } from '../../shared/broker/BrokerClientAdminService';
import { SecretHasher } from '../../shared/broker/SecretHasher';
import { TableBrokerClientRegistry } from '../../shared/broker/TableBrokerClientRegistry';
import { systemClock } from '../../shared/clock';
import { TableEndpointRegistry } from '../../shared/endpoints/TableEndpointRegistry';
import { validateEndpoint } from '../../shared/endpoints/validateEndpoint';
import { silentLogger } from '../../shared/logging';
import { EndpointAdminService } from '../../shared/rotation/EndpointAdminService';
import { FakeClock } from '../fakes/FakeClock';
import { FaultPlan } from '../fakes/rotation/FaultPlan';
import { InMemoryRotationJobQueue } from '../fakes/rotation/InMemoryRotationJobQueue';
import { InMemoryRotationJournal } from '../fakes/rotation/InMemoryRotationJournal';
import { InMemorySecretStore } from '../fakes/rotation/InMemorySecretStore';
import { bodyOf } from '../support/httpParts';

const rules = { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24 };
const arm = (name: string) => ({ subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name });
const context = new InvocationContext({ invocationId: 'paging', logHandler: () => undefined });

/**
 * Table storage answers at most `limit` rows per request here, whatever `$top` the SDK sends: real
 * storage cuts answers short too (1,000 rows, 5 seconds), so a page must follow storage's continuation
 * until it holds `$top` rows. Counts the list queries and the largest `$top` asked for.
 */
class WireTop {
  queries = 0;
  largestAsked = 0;
  constructor(private readonly limit: number) {}
  readonly policy: PipelinePolicy = {
    name: 'wireTop',
    sendRequest: async (request, next) => {
      const top = /([?&](?:%24|\$)top=)(\d+)/.exec(request.url);
      if (request.method === 'GET' && top) {
        this.queries++;
        this.largestAsked = Math.max(this.largestAsked, Number(top[2]));
        request.url = request.url.replace(top[0], `${top[1]}${Math.min(Number(top[2]), this.limit)}`);
      }
      return next(request);
    },
  };
}

/** Every page from `first`, following `nextLink` through the handler until a page has none. */
async function walk(
  handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>,
  first: string,
  between: (pageIndex: number) => Promise<void> = async () => undefined,
): Promise<Array<{ ids: string[]; nextLink?: string }>> {
  const pages: Array<{ ids: string[]; nextLink?: string }> = [];
  let next: string | undefined = first;
  while (next !== undefined && pages.length < 100) {
    const response = await handler(new HttpRequest({ method: 'GET', url: next }), context);
    expect(response.status).toBe(200);
    const answer = bodyOf(response);
    next = answer['nextLink'] as string | undefined;
    pages.push({
      ids: (answer['value'] as Array<{ id: string }>).map((r) => r.id),
      ...(next ? { nextLink: next } : {}),
    });
    await between(pages.length - 1);
  }
  return pages;
}

/** The admin lists against Azurite through the real TableClient and the HTTP functions. */
describe('Admin lists: paging through Table storage (Azurite)', () => {
  let azurite: RunningAzurite;
  const endpointsWire = new WireTop(7);
  const clientsWire = new WireTop(3);
  let endpoints: EndpointAdminService;
  let endpointRegistry: TableEndpointRegistry;
  let clients: BrokerClientAdminService;
  // Declared in ENDPOINTS_FILE, between and around the table's ids.
  const fileIds = ['aaa-file', 'ep-011-file', 'zzz-file'];
  const tableIds = Array.from({ length: 60 }, (_, i) => `ep-${String(i).padStart(3, '0')}`);
  const clientIds = Array.from(
    { length: 30 },
    (_, i) => `${i % 3 ? 'client' : 'Client'}-${String(i).padStart(2, '0')}`,
  );

  const tableClient = (name: string, wire: WireTop) =>
    TableClient.fromConnectionString(azurite.connectionString, name, {
      allowInsecureConnection: true,
      retryOptions: { retryDelayInMs: 10 },
      additionalPolicies: [{ policy: wire.policy, position: 'perCall' }],
    });

  beforeAll(async () => {
    azurite = await startAzurite();
    const now = () => new Date().toISOString();
    endpointRegistry = new TableEndpointRegistry({
      table: tableClient('pagedEndpoints', endpointsWire),
      rules,
      now,
      endpointsFile: 'endpoints.json',
      readText: async () => JSON.stringify(fileIds.map((id) => ({ id, arm: arm(id) }))),
    });
    const [faults, fakeClock] = [new FaultPlan(), new FakeClock()];
    endpoints = new EndpointAdminService({
      registry: endpointRegistry,
      journal: new InMemoryRotationJournal(fakeClock, faults),
      secrets: new InMemorySecretStore(fakeClock, faults),
      jobs: new InMemoryRotationJobQueue(),
      clock: systemClock,
      rules,
    });
    // Out of order, so the listing's order is the table's and not the order of writes.
    for (const id of [...tableIds].reverse())
      await endpointRegistry.create(validateEndpoint({ id, arm: arm(id) }, rules, now()));
    clients = new BrokerClientAdminService({
      registry: new TableBrokerClientRegistry({ table: tableClient('pagedClients', clientsWire) }),
      hasher: new SecretHasher('integration-pepper-0123456789-abcdefghij'),
      clock: systemClock,
      logger: silentLogger,
    });
    for (const id of clientIds) await clients.create({ id, displayName: id, allowedScopes: ['demo-token'] });
  }, 120_000);

  afterAll(async () => {
    await azurite?.stop();
  });

  const endpointsApi = manageEndpointsHandler(() => ({ admin: endpoints }));
  const clientsApi = manageClientsHandler(() => ({ admin: clients }));

  it('walks every endpoint, file entries merged, exactly once and in key order, never reading more than a page', async () => {
    // Prepare
    endpointsWire.queries = 0;
    endpointsWire.largestAsked = 0;

    // Act
    const pages = await walk(endpointsApi, 'http://localhost:7071/api/manage/endpoints?$top=25');

    // Assess
    const seen = pages.flatMap((p) => p.ids);
    expect(seen).toEqual([...tableIds, ...fileIds].sort());
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages.every((p) => p.ids.length <= 25)).toBe(true);
    expect(pages.at(-1)).not.toHaveProperty('nextLink');
    expect(pages[0]!.nextLink).toMatch(
      /^http:\/\/localhost:7071\/api\/manage\/endpoints\?\$top=25&\$skipToken=[\w-]+$/,
    );
    // Storage answered 7 rows at most, so each page took several queries, none asking beyond the page.
    expect(endpointsWire.largestAsked).toBeLessThanOrEqual(25);
    expect(endpointsWire.queries).toBeGreaterThanOrEqual(Math.ceil(tableIds.length / 7));
  });

  it('sees an endpoint registered or deleted between pages at most once, and every other endpoint once', async () => {
    // Prepare: while the walk is on its first page, one id appears after it and one it has not reached goes
    const added = 'ep-045-new';
    const removed = 'ep-050';
    const now = new Date().toISOString();

    // Act
    const pages = await walk(
      endpointsApi,
      'http://localhost:7071/api/manage/endpoints?$top=20',
      async (index) => {
        if (index !== 0) return;
        await endpointRegistry.create(validateEndpoint({ id: added, arm: arm(added) }, rules, now));
        await endpointRegistry.delete(removed);
      },
    );

    // Assess
    const seen = pages.flatMap((p) => p.ids);
    expect(seen).toEqual([...tableIds.filter((id) => id !== removed), added, ...fileIds].sort());
    await endpointRegistry.delete(added);
    await endpointRegistry.create(validateEndpoint({ id: removed, arm: arm(removed) }, rules, now));
  });

  it('names each registration whose row was edited by hand once, with what is wrong, and pages on past them', async () => {
    // Prepare: a table of its own; rows written by hand with the Tables SDK as Storage Explorer would, one
    // page of them with no endpoint at all, one cut short by file entries just before a bad row
    const own = TableClient.fromConnectionString(azurite.connectionString, 'handEditedEndpoints', {
      allowInsecureConnection: true,
    });
    const now = new Date().toISOString();
    // Two, so that the page reading ep-10..ep-14 holds more endpoints than $top and ends before ep-14.
    const ownFiles = ['ep-11-file', 'ep-12-file'];
    const registry = new TableEndpointRegistry({
      table: own,
      rules,
      now: () => now,
      endpointsFile: 'endpoints.json',
      readText: async () => JSON.stringify(ownFiles.map((id) => ({ id, arm: arm(id) }))),
      logger: silentLogger,
    });
    const ids = Array.from({ length: 20 }, (_, i) => `ep-${String(i).padStart(2, '0')}`);
    const pasted = 'pasted-primary-key-0123456789';
    const byHand: Record<string, Record<string, unknown>> = {
      'ep-02': { endpoint: `{"id": "ep-02", "key": "${pasted}"` },
      ...Object.fromEntries(
        ['ep-05', 'ep-06', 'ep-07', 'ep-08', 'ep-09'].map((id) => [
          id,
          { endpoint: JSON.stringify({ id, kind: 'onlineEndpoint', note: pasted }) },
        ]),
      ),
      'ep-14': { secretName: 'ep-14-key', note: pasted },
      'ep-19': { endpoint: '[1, 2]' },
    };
    for (const id of ids.filter((i) => !(i in byHand)))
      await registry.create(validateEndpoint({ id, arm: arm(`hand-${id}`) }, rules, now));
    for (const [id, columns] of Object.entries(byHand))
      await own.createEntity({ partitionKey: 'endpoint', rowKey: id, ...columns });
    const admin = new EndpointAdminService({
      registry,
      journal: new InMemoryRotationJournal(new FakeClock(), new FaultPlan()),
      secrets: new InMemorySecretStore(new FakeClock(), new FaultPlan()),
      jobs: new InMemoryRotationJobQueue(),
      clock: systemClock,
      rules,
    });
    const api = manageEndpointsHandler(() => ({ admin }));

    // Act
    const answers: Array<Record<string, unknown>> = [];
    let next: string | undefined = 'http://localhost:7071/api/manage/endpoints?$top=5';
    while (next !== undefined && answers.length < 20) {
      const response = await api(new HttpRequest({ method: 'GET', url: next }), context);
      expect(response.status).toBe(200);
      answers.push(bodyOf(response));
      next = answers.at(-1)!['nextLink'] as string | undefined;
    }

    // Assess: value holds endpoints only, every one once
    const value = answers.flatMap((a) => (a['value'] as Array<{ id: string }>).map((e) => e.id));
    expect(value).toEqual([...ids.filter((id) => !(id in byHand)), ...ownFiles].sort());
    expect(answers.every((a) => (a['value'] as unknown[]).length <= 5)).toBe(true);
    // Each bad row named once, in key order, whichever page read it, with what a GET of it answers
    const named = answers.flatMap((a) => (a['unreadable'] ?? []) as Array<Record<string, string>>);
    expect(named.map((u) => u['id'])).toEqual(Object.keys(byHand).sort());
    expect(named.every((u) => u['code'] === 'ENDPOINT_RECORD_UNREADABLE')).toBe(true);
    const message = (id: string) => named.find((u) => u['id'] === id)?.['message'];
    expect(message('ep-02')).toContain('its endpoint column is not JSON');
    expect(message('ep-05')).toMatch(/its endpoint column has no valid .*\barm\b/);
    expect(message('ep-14')).toContain('the row has no endpoint column');
    expect(message('ep-19')).toContain('its endpoint column is not a JSON object');
    // A page that read only bad rows holds no endpoint and still links the next: it is not the last
    const onlyBad = answers.find((a) => (a['value'] as unknown[]).length === 0 && a['unreadable']);
    expect(onlyBad?.['nextLink']).toMatch(/\$skipToken=/);
    expect(answers.at(-1)).not.toHaveProperty('nextLink');
    // Field names, never what the row holds
    expect(JSON.stringify(answers)).not.toContain(pasted);
  });

  it('walks every client exactly once, in key order, with one page of $top 1 per client', async () => {
    // Prepare: only the walks count (creating a client reads the others, for ids differing only in case)
    clientsWire.largestAsked = 0;

    // Act
    const byEight = await walk(clientsApi, 'http://localhost:7071/api/manage/clients?$top=8');
    const byOne = await walk(clientsApi, 'http://localhost:7071/api/manage/clients?$top=1');

    // Assess
    expect(byEight.flatMap((p) => p.ids)).toEqual([...clientIds].sort());
    expect(byEight.map((p) => p.ids.length)).toEqual([8, 8, 8, 6]);
    expect(byOne.flatMap((p) => p.ids)).toEqual([...clientIds].sort());
    expect(byOne.length).toBeLessThanOrEqual(clientIds.length + 1);
    expect(clientsWire.largestAsked).toBeLessThanOrEqual(8);
  });

  it('answers a tampered $skipToken with 400 naming it, and a well-formed token at any key with a page, not a 500', async () => {
    // Prepare
    const first = bodyOf(
      await clientsApi(
        new HttpRequest({ method: 'GET', url: 'http://l/api/manage/clients?$top=2' }),
        context,
      ),
    );
    const token = new URL(first['nextLink'] as string).searchParams.get('$skipToken')!;
    const at = (after: string) =>
      Buffer.from(JSON.stringify({ v: 1, list: 'clients', after })).toString('base64url');

    // Act
    const tampered = await clientsApi(
      new HttpRequest({ method: 'GET', url: `http://l/api/manage/clients?$skipToken=${token.slice(1)}` }),
      context,
    );
    const quoted = await clientsApi(
      new HttpRequest({
        method: 'GET',
        url: `http://l/api/manage/clients?$skipToken=${at("client-2' or RowKey gt '")}`,
      }),
      context,
    );
    const past = await endpointsApi(
      new HttpRequest({
        method: 'GET',
        url: `http://l/api/manage/endpoints?$skipToken=${Buffer.from(JSON.stringify({ v: 1, list: 'endpoints', after: '~secret~' })).toString('base64url')}`,
      }),
      context,
    );

    // Assess
    expect(tampered.status).toBe(400);
    expect(bodyOf(tampered)).toMatchObject({
      type: 'about:blank',
      title: 'Bad Request',
      code: 'ValidationFailed',
      errors: [{ field: '$skipToken' }],
    });
    // The key is a value in the filter, never filter text: the page starts after it, as for any key.
    expect(quoted.status).toBe(200);
    expect((bodyOf(quoted)['value'] as Array<{ id: string }>).map((c) => c.id)).toEqual(
      clientIds.filter((id) => id > "client-2' or RowKey gt '").sort(),
    );
    // Past the endpoint rows, at the secret-name claims: an empty last page, never a claim row.
    expect(past.status).toBe(200);
    expect(bodyOf(past)).toEqual({ value: [] });
  });
});
