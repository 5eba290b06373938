import { resolve } from 'node:path';

import type { TableClient } from '@azure/data-tables';

import type { UnreadableRow } from '../../../shared/endpoints/EndpointRegistry';
import { TableEndpointRegistry } from '../../../shared/endpoints/TableEndpointRegistry';
import { validateEndpoint } from '../../../shared/endpoints/validateEndpoint';
import { ConfigError } from '../../../shared/errors';
import { createLogger, silentLogger } from '../../../shared/logging';
import { EndpointReadOnlyError, EndpointRecordUnreadableError } from '../../../shared/rotation/errors';
import { RotationScheduler } from '../../../shared/rotation/RotationScheduler';
import { CapturingLogger, CapturingTelemetry } from '../../fakes/capture';
import { PagedTable } from '../../fakes/PagedTable';
import { buildRotationFixture } from '../../fakes/rotation/buildRotationFixture';
import { listedIds } from '../../support/endpointTable';

const rules = { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24 };
const arm = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'ep1' };
/** File entries are answered before the table is touched; a table that throws proves it. */
const unusedTable = {
  createTable: async () => Promise.reject(new Error('table not expected')),
} as unknown as TableClient;

/** A registry serving ENDPOINTS_FILE only, whose `endpoints.json` reads as `text`; touching the table fails. */
const fileRegistry = (text: string) =>
  new TableEndpointRegistry({
    table: unusedTable,
    rules,
    endpointsFile: 'endpoints.json',
    now: () => '2026-01-01T00:00:00.000Z',
    readText: async () => text,
  });

describe('Class: TableEndpointRegistry', () => {
  it('serves ENDPOINTS_FILE entries read-only', async () => {
    // Prepare
    const registry = fileRegistry(JSON.stringify({ endpoints: [{ id: 'file-one', arm }] }));

    // Act
    const found = await registry.get('file-one');

    // Assess
    expect(found).toMatchObject({ id: 'file-one', secretName: 'file-one-key', gracePeriodHours: 25 });
    await expect(registry.create(found!)).rejects.toThrow(EndpointReadOnlyError);
    await expect(registry.replace(found!, 'file')).rejects.toThrow(EndpointReadOnlyError);
    await expect(registry.delete('file-one')).rejects.toThrow(EndpointReadOnlyError);
  });

  it('names every bad entry and field of a bad file', async () => {
    // Prepare: an id given twice, a grace below the minimum, and another entry's secret name (Key Vault ignores case)
    const registry = fileRegistry(
      JSON.stringify([
        { id: 'ok-one', arm },
        { id: 'ok-one', arm },
        { id: 'x', arm, gracePeriodHours: 1 },
        { id: 'ok-two', arm: { ...arm, name: 'ep2' }, secretName: 'OK-ONE-KEY' },
      ]),
    );

    // Act
    const error = await registry.get('ok-one').catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.field)).toEqual([
      'ENDPOINTS_FILE[1].id',
      'ENDPOINTS_FILE[2].id',
      'ENDPOINTS_FILE[2].gracePeriodHours',
      'ENDPOINTS_FILE[3].secretName',
    ]);
    expect((error as ConfigError).issues[3]?.message).toBe('is also the secret of ok-one');
  });

  it('refuses two entries of one Azure ML endpoint, whatever the case, naming both, and keeps other kinds apart', async () => {
    // Prepare: ARM names ignore case; a serverless endpoint of the same name is another endpoint
    const shouting = { subscriptionId: 'SUB-1', resourceGroup: 'RG', workspace: 'WS1', name: 'EP1' };
    const registry = fileRegistry(
      JSON.stringify([
        { id: 'first-one', arm },
        { id: 'serverless-one', kind: 'serverlessEndpoint', arm },
        { id: 'second-one', arm: shouting },
        { id: 'third-one', arm, secretName: 'FIRST-ONE-KEY' },
      ]),
    );

    // Act
    const error = await registry.get('first-one').catch((e: unknown) => e);

    // Assess: every field of every entry that clashes, the first entry of the endpoint named
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      {
        field: 'ENDPOINTS_FILE[2].arm',
        message:
          'is the onlineEndpoint of first-one too (same subscription, resource group, workspace and name, ' +
          'ignoring case): second-one and first-one would rotate its keys against each other',
      },
      { field: 'ENDPOINTS_FILE[3].secretName', message: 'is also the secret of first-one' },
      {
        field: 'ENDPOINTS_FILE[3].arm',
        message:
          'is the onlineEndpoint of first-one too (same subscription, resource group, workspace and name, ' +
          'ignoring case): third-one and first-one would rotate its keys against each other',
      },
    ]);
  });

  it('says a missing file is missing, and where it was looked for, rather than that it is not JSON', async () => {
    // Prepare: a relative path resolves against the worker's working directory (docs/operations.md)
    const registry = new TableEndpointRegistry({
      table: unusedTable,
      rules,
      endpointsFile: 'no-such-dir/endpoints.json',
      now: () => '',
    });

    // Act
    const error = await registry.get('any-one').catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      {
        field: 'ENDPOINTS_FILE',
        message: `cannot be read at ${resolve('no-such-dir/endpoints.json')} (ENOENT)`,
      },
    ]);
  });

  it('says a file that is not JSON is not JSON', async () => {
    // Prepare
    const registry = fileRegistry('[{ "id": "one", }]');

    // Act
    const error = await registry.get('one').catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { field: 'ENDPOINTS_FILE', message: 'cannot be read as JSON (SyntaxError)' },
    ]);
  });
});

describe('Class: TableEndpointRegistry (an unreadable row)', () => {
  /** A table listing `rows` as the SDK does, row by row or in one page; only what `list` and `listPage` need. */
  const tableListing = (rows: { rowKey: string; endpoint: string }[]): TableClient => {
    const entities = rows.map((row) => ({
      partitionKey: 'endpoint',
      secretName: `${row.rowKey}-key`,
      ...row,
    }));
    return {
      createTable: async () => undefined,
      listEntities: () =>
        Object.assign(
          (async function* () {
            yield* entities;
          })(),
          {
            byPage: async function* () {
              yield entities;
            },
          },
        ),
    } as unknown as TableClient;
  };
  const stored = (id: string) =>
    JSON.stringify(validateEndpoint({ id, arm: { ...arm, name: id } }, rules, '2026-01-01T00:00:00.000Z'));

  it('lists the other endpoints and names the row it skipped, so one bad row does not stop the timer', async () => {
    // Prepare: a row edited by hand (Storage Explorer) between two good ones
    const lines: string[] = [];
    const registry = new TableEndpointRegistry({
      table: tableListing([
        { rowKey: 'first-one', endpoint: stored('first-one') },
        { rowKey: 'hand-edited', endpoint: '{"id": "hand-edited", ' },
        { rowKey: 'not-an-object', endpoint: '42' },
        { rowKey: 'last-one', endpoint: stored('last-one') },
      ]),
      rules,
      now: () => '2026-01-01T00:00:00.000Z',
      logger: createLogger('EndpointRegistry', (level, line) => lines.push(`${level} ${line}`)),
    });
    const f = buildRotationFixture();
    const scheduler = new RotationScheduler({
      registry,
      journal: f.journal,
      jobs: f.jobs,
      clock: f.clock,
      logger: silentLogger,
    });

    // Act
    const listed = await listedIds(registry);
    const result = await scheduler.enqueueDue(f.clock.now());

    // Assess
    expect(listed).toEqual(['first-one', 'last-one']);
    expect(result).toEqual({ due: 2, enqueued: 2, failed: 0 });
    expect(f.jobs.jobs.map((j) => j.endpointId)).toEqual(['first-one', 'last-one']);
    // Both walks read the registry page by page.
    expect([...new Set(lines)]).toEqual([
      expect.stringMatching(
        /^warn EndpointRegistry => listPage => row skipped, unreadable endpointId=hand-edited/,
      ),
      expect.stringMatching(
        /^warn EndpointRegistry => listPage => row skipped, unreadable endpointId=not-an-object/,
      ),
    ]);
  });
});

describe('Class: TableEndpointRegistry (point reads of an unreadable row)', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const valid = (id: string, input: Record<string, unknown> = {}) =>
    validateEndpoint({ id, arm: { ...arm, name: id }, ...input }, rules, at);
  /** What a hand edit may paste into the column: never to be shown in an error or a log line. */
  const pasted = 'pasted-key-value-0123456789';
  const edited = (id: string, change: Record<string, unknown>) => JSON.stringify({ ...valid(id), ...change });

  it.each([
    ['not JSON', `{"id": "bad-row", "note": "${pasted}"`, 'its endpoint column is not JSON'],
    ['JSON of a list', `["${pasted}"]`, 'its endpoint column is not a JSON object'],
    ['another id', edited('bad-row', { id: 'other-row' }), 'its endpoint column holds no id, or another one'],
    ['no arm', edited('bad-row', { arm: pasted }), 'its endpoint column has no valid arm'],
    [
      'periods and flags of the wrong type',
      edited('bad-row', { rotationPeriodHours: '100', enabled: 'yes', secretName: `${pasted}/x` }),
      'its endpoint column has no valid secretName, rotationPeriodHours, enabled',
    ],
    [
      // Date.parse reads these as some time zone's midnight, or rolls February 31 into March
      'times that are no RFC 3339 date-time',
      edited('bad-row', {
        retiredAt: '12/31/2030',
        reinstatedAt: '2030-02-31T00:00:00Z',
        createdAt: '2026-01-01',
      }),
      'its endpoint column has no valid retiredAt, reinstatedAt, createdAt',
    ],
    [
      'a v1 web service without v1',
      edited('bad-row', { kind: 'v1WebService' }),
      'its endpoint column has no valid v1',
    ],
  ])(
    'answers get, getVersioned and findBySecretName with ENDPOINT_RECORD_UNREADABLE for a row of %s, never showing its content',
    async (_what, column, why) => {
      // Prepare: the row, its claim as the registry wrote it, and a good row beside it
      const table = new PagedTable();
      table.add({ partitionKey: 'endpoint', rowKey: 'bad-row', endpoint: column, secretName: 'bad-row-key' });
      table.add({ partitionKey: 'endpoint', rowKey: '~secret~bad-row-key', endpointId: 'bad-row' });
      table.add({
        partitionKey: 'endpoint',
        rowKey: 'good-row',
        endpoint: JSON.stringify(valid('good-row')),
      });
      const lines: string[] = [];
      const registry = new TableEndpointRegistry({
        table: table.asTableClient(),
        rules,
        now: () => at,
        logger: createLogger('EndpointRegistry', (level, line) => lines.push(`${level} ${line}`)),
      });

      // Act
      const answers = await Promise.all(
        [
          registry.get('bad-row'),
          registry.getVersioned('bad-row'),
          registry.findBySecretName('BAD-ROW-KEY'),
        ].map((read) =>
          read.then(
            () => undefined,
            (e: unknown) => e,
          ),
        ),
      );
      const page = await registry.listPage({ top: 10 });

      // Assess: not "no such endpoint" (which let a registration start the id's journal over), nor a SyntaxError
      for (const answer of answers) {
        expect(answer).toBeInstanceOf(EndpointRecordUnreadableError);
        expect(answer).toMatchObject({
          code: 'ENDPOINT_RECORD_UNREADABLE',
          status: 409,
          endpointId: 'bad-row',
          why,
        });
        expect((answer as Error).message).not.toContain(pasted);
      }
      expect(page.items.map((e) => e.id)).toEqual(['good-row']);
      expect(lines).toEqual([
        `warn EndpointRegistry => listPage => row skipped, unreadable endpointId=bad-row why=${why}`,
      ]);
      expect(await registry.get('good-row')).toEqual(valid('good-row'));
    },
  );

  it('reads an endpoint a newer version stored: a kind and auth mode added since, fields of its own', async () => {
    // Prepare: what a rolling deployment leaves for this version to show (and leave alone)
    const newer = {
      ...valid('newer-one'),
      kind: 'managedComputeEndpoint',
      authMode: 'Oidc',
      reviewedBy: 'x',
    };
    const table = new PagedTable();
    table.add({ partitionKey: 'endpoint', rowKey: 'newer-one', endpoint: JSON.stringify(newer) });
    const registry = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });

    // Act
    const read = await registry.get('newer-one');
    const page = await registry.listPage({ top: 10 });

    // Assess
    expect(read).toEqual(newer);
    expect(page.items).toEqual([newer]);
  });
});

describe('Class: TableEndpointRegistry (Method: listPage)', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const valid = (id: string) => validateEndpoint({ id, arm: { ...arm, name: id } }, rules, at);
  const tableIds = Array.from({ length: 23 }, (_, i) => `ep-${String(i * 2).padStart(2, '0')}`);
  // Between, before and after the table's ids, and one that shadows a row (the file entry wins).
  const fileIds = ['aa-first', 'ep-05', 'ep-20', 'zz-last'];

  function registryOver(table: PagedTable, lines: string[] = []): TableEndpointRegistry {
    for (const id of tableIds) {
      const endpoint = valid(id);
      table.add({ partitionKey: 'endpoint', rowKey: id, endpoint: JSON.stringify(endpoint), secretName: id });
      // The secret-name claim beside each row, which a page must never show.
      table.add({ partitionKey: 'endpoint', rowKey: `~secret~${id}-key`, endpointId: id });
    }
    table.add({ partitionKey: 'endpoint', rowKey: 'ep-07', endpoint: '{"id": ', secretName: 'ep-07-key' });
    table.add({ partitionKey: 'other', rowKey: 'ep-99', endpoint: JSON.stringify(valid('ep-99')) });
    return new TableEndpointRegistry({
      table: table.asTableClient(),
      rules,
      endpointsFile: 'endpoints.json',
      readText: async () => JSON.stringify(fileIds.map((id) => ({ id, arm: { ...arm, name: id } }))),
      now: () => at,
      logger: createLogger('EndpointRegistry', (level, line) => lines.push(`${level} ${line}`)),
    });
  }

  async function walk(registry: TableEndpointRegistry, top: number) {
    const pages: string[][] = [];
    let after: string | undefined;
    do {
      const page = await registry.listPage(after === undefined ? { top } : { top, after });
      pages.push(page.items.map((e) => e.id));
      after = page.after;
    } while (after !== undefined && pages.length < 100);
    return pages;
  }

  it.each([
    ['one a page', 1, 1000, 0],
    ['storage answering 3 rows at most, twice none', 5, 3, 2],
    ['storage answering one empty page first', 7, 1000, 1],
    ['one page for all', 100, 1000, 0],
  ])(
    'walks every endpoint exactly once, in key order, file entries merged (%s)',
    async (_what, top, serverPageLimit, emptyAnswers) => {
      // Prepare
      const table = Object.assign(new PagedTable(), { serverPageLimit, emptyAnswers });
      const lines: string[] = [];
      const registry = registryOver(table, lines);

      // Act
      const pages = await walk(registry, top);

      // Assess
      const expected = [...new Set([...tableIds, ...fileIds])].sort();
      expect(pages.flat()).toEqual(expected);
      expect(Math.max(...pages.map((p) => p.length))).toBeLessThanOrEqual(top);
      expect(Math.max(...table.asked)).toBeLessThanOrEqual(top);
      expect((await registry.get('ep-05'))?.arm.name).toBe('ep-05');
      // A page cut short by file entries reads some rows again, so the skipped row may be named twice.
      expect(lines.join('\n')).toContain('listPage => row skipped, unreadable endpointId=ep-07');
    },
  );

  it.each([
    ['one a page', 1, 1000, 0],
    ['storage answering 3 rows at most, twice none', 5, 3, 2],
    ['storage answering one empty page first', 7, 1000, 1],
    ['one page for all', 100, 1000, 0],
  ])(
    'names an unreadable row in one page of a walk only, and warns about it once (%s)',
    async (_what, top, serverPageLimit, emptyAnswers) => {
      // Prepare
      const table = Object.assign(new PagedTable(), { serverPageLimit, emptyAnswers });
      const lines: string[] = [];
      const registry = registryOver(table, lines);

      // Act: a walk, as the timer's round makes one
      const named: UnreadableRow[] = [];
      let after: string | undefined;
      do {
        const page = await registry.listPage(after === undefined ? { top } : { top, after });
        named.push(...(page.unreadable ?? []));
        after = page.after;
      } while (after !== undefined && named.length < 100);

      // Assess: named with what is wrong, for the admin list to say (the row's content never)
      expect(named).toEqual([{ id: 'ep-07', why: 'its endpoint column is not JSON' }]);
      expect(lines.filter((l) => l.includes('row skipped, unreadable'))).toEqual([
        expect.stringMatching(
          /^warn EndpointRegistry => listPage => row skipped, unreadable endpointId=ep-07 /,
        ),
      ]);
    },
  );

  it('reads no more rows than the page holds, however many the table has', async () => {
    // Prepare
    const table = new PagedTable();
    for (let i = 0; i < 1500; i++) {
      const id = `ep-${String(i).padStart(4, '0')}`;
      table.add({
        partitionKey: 'endpoint',
        rowKey: id,
        endpoint: JSON.stringify(valid(id)),
        secretName: id,
      });
    }
    const registry = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });

    // Act
    const first = await registry.listPage({ top: 10 });
    const second = await registry.listPage({ top: 10, after: first.after! });

    // Assess
    expect(first.items.map((e) => e.id)).toEqual(Array.from({ length: 10 }, (_, i) => `ep-000${i}`));
    expect(second.items[0]?.id).toBe('ep-0010');
    expect(table.asked).toEqual([10, 10]);
  });
});

describe('Class: TableEndpointRegistry (Method: findBySecretName)', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const valid = (id: string) => validateEndpoint({ id, arm: { ...arm, name: id } }, rules, at);

  /** `count` endpoint rows with their claims, as this version writes them. */
  function claimedRows(table: PagedTable, count: number): void {
    for (let i = 0; i < count; i++) {
      const endpoint = valid(`ep-${String(i).padStart(4, '0')}`);
      table.add({
        partitionKey: 'endpoint',
        rowKey: endpoint.id,
        endpoint: JSON.stringify(endpoint),
        secretName: endpoint.secretName,
      });
      table.add({
        partitionKey: 'endpoint',
        rowKey: `~secret~${endpoint.secretName}`,
        endpointId: endpoint.id,
      });
    }
  }

  it('walks the rows a page at a time on a claim miss, with the answers of a whole read', async () => {
    // Prepare: 2,500 rows with claims, and one from before claims existed at either end
    const table = new PagedTable();
    claimedRows(table, 2500);
    for (const id of ['aa-legacy', 'zz-legacy']) {
      const endpoint = valid(id);
      table.add({
        partitionKey: 'endpoint',
        rowKey: id,
        endpoint: JSON.stringify(endpoint),
        secretName: endpoint.secretName,
      });
    }
    const registry = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });

    // Act: Key Vault may name the secret in another case
    const found = await Promise.all(
      ['ZZ-LEGACY-KEY', 'aa-legacy-key', 'ep-1234-key', 'another-apps-secret'].map((name) =>
        registry.findBySecretName(name),
      ),
    );

    // Assess: no request asks for more rows than one page holds
    expect(found.map((e) => e?.id)).toEqual(['zz-legacy', 'aa-legacy', 'ep-1234', undefined]);
    expect(found[0]).toEqual(valid('zz-legacy'));
    expect(Math.max(...table.asked)).toBeLessThanOrEqual(1000);
  });

  it("hands its caller's signal to the claim's and the row's reads (an Event Grid delivery's budget)", async () => {
    // Prepare
    const table = new PagedTable();
    claimedRows(table, 2);
    const registry = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });
    const signal = new AbortController().signal;

    // Act
    const found = await registry.findBySecretName('ep-0001-key', signal);

    // Assess
    expect(found?.id).toBe('ep-0001');
    expect(table.pointReads).toEqual([
      { rowKey: '~secret~ep-0001-key', abortSignal: signal },
      { rowKey: 'ep-0001', abortSignal: signal },
    ]);
  });
});

describe('Class: TableEndpointRegistry (Method: findBySecretName, rows from before claims)', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const valid = (id: string) => validateEndpoint({ id, arm: { ...arm, name: id } }, rules, at);

  it('gives every row it passes its claim, so that later misses are one point read, in this process and another', async () => {
    // Prepare: rows from before claims, one of them edited by hand into a secret name no secret can have
    const table = new PagedTable();
    for (const id of ['aa-legacy', 'mm-legacy', 'zz-legacy']) {
      const endpoint = valid(id);
      table.add({
        partitionKey: 'endpoint',
        rowKey: id,
        endpoint: JSON.stringify(endpoint),
        secretName: endpoint.secretName,
      });
    }
    table.add({ partitionKey: 'endpoint', rowKey: 'hand-edited', endpoint: '{', secretName: 'a/b' });
    const registry = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });

    // Act
    const found = await registry.findBySecretName('MM-LEGACY-KEY');
    const missAfter = await registry.findBySecretName('another-apps-secret');
    const restarted = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });
    const foundByClaim = await restarted.findBySecretName('zz-legacy-key');
    const missInAnother = await restarted.findBySecretName('yet-another-secret');
    const laterMissInAnother = await restarted.findBySecretName('still-another-secret');

    // Assess: the first walk wrote a claim for each row with a secret name; the other process walks once
    // to learn that every row has its claim
    expect(found).toEqual(valid('mm-legacy'));
    expect([missAfter, missInAnother, laterMissInAnother]).toEqual([undefined, undefined, undefined]);
    expect(foundByClaim).toEqual(valid('zz-legacy'));
    expect(table.asked).toEqual([1000, 1000]);
    const claims = [...table.rows.values()].filter((row) => row.rowKey.startsWith('~secret~'));
    expect(claims.map(({ rowKey, endpointId }) => ({ rowKey, endpointId }))).toEqual(
      ['aa-legacy', 'mm-legacy', 'zz-legacy'].map((id) => ({ rowKey: `~secret~${id}-key`, endpointId: id })),
    );
  });
});

describe('Class: TableEndpointRegistry (Method: findBySecretName, claims left over)', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const valid = (id: string) => validateEndpoint({ id, arm: { ...arm, name: id } }, rules, at);
  const row = (endpoint: ReturnType<typeof valid>) => ({
    partitionKey: 'endpoint',
    rowKey: endpoint.id,
    endpoint: JSON.stringify(endpoint),
    secretName: endpoint.secretName,
  });
  const claim = (secretName: string, endpointId: string) => ({
    partitionKey: 'endpoint',
    rowKey: `~secret~${secretName}`,
    endpointId,
  });

  it('answers a claim naming a row renamed away from the secret, or gone, as none, and finds the row that holds it', async () => {
    // Prepare: a claim scan met a rename; an older version deleted a row and, before claims, renamed one and
    // gave its secret to another
    const table = new PagedTable();
    const renamed = { ...valid('renamed'), secretName: 'renamed-now' };
    const heir = { ...valid('heir'), secretName: 'passed-on' };
    for (const endpoint of [renamed, { ...valid('gave-away'), secretName: 'gave-away-now' }, heir])
      table.add(row(endpoint));
    table.add(claim('renamed-now', 'renamed'));
    table.add(claim('renamed-before', 'renamed'));
    table.add(claim('deleted-key', 'deleted'));
    table.add(claim('passed-on', 'gave-away'));
    table.add({ partitionKey: 'endpoint', rowKey: 'hand-edited', endpoint: '{', secretName: 'pasted' });
    table.add(claim('pasted', 'hand-edited'));
    const registry = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });

    // Act
    const found = await Promise.all(
      ['renamed-before', 'deleted-key', 'PASSED-ON', 'Renamed-Now'].map((name) =>
        registry.findBySecretName(name),
      ),
    );
    const unreadable = await registry.findBySecretName('pasted').catch((e: unknown) => e);

    // Assess: a row that cannot be read keeps its claim (its secret cannot be told)
    expect(found.map((e) => e?.id)).toEqual([undefined, undefined, 'heir', 'renamed']);
    expect(unreadable).toBeInstanceOf(EndpointRecordUnreadableError);
  });

  it('is taken over by a miss’s walk for the row that holds the secret, so later misses are one point read', async () => {
    // Prepare: before claims, an older version renamed a row away from its secret and gave it to another
    const table = new PagedTable();
    table.add(row({ ...valid('gave-away'), secretName: 'gave-away-now' }));
    table.add(claim('gave-away-now', 'gave-away'));
    table.add(row({ ...valid('heir'), secretName: 'passed-on' }));
    table.add(claim('passed-on', 'gave-away'));
    const registry = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });

    // Act
    const misses = [
      await registry.findBySecretName('some-other-apps-secret'),
      await registry.findBySecretName('another-apps-secret'),
    ];

    // Assess: one walk, which found every row claimed once it took the claim over
    expect(misses).toEqual([undefined, undefined]);
    expect(table.asked).toEqual([1000]);
    expect(await table.getEntity('endpoint', '~secret~passed-on')).toMatchObject({ endpointId: 'heir' });
  });

  it('leaves a claim whose holder still has the secret, or cannot be read, and walks again on the next miss', async () => {
    // Prepare: rows from before claims sharing a secret, one of them claimed; a claim naming a hand-edited row
    const table = new PagedTable();
    table.add(row({ ...valid('first'), secretName: 'shared' }));
    table.add(claim('shared', 'first'));
    table.add(row({ ...valid('second'), secretName: 'shared' }));
    table.add({ partitionKey: 'endpoint', rowKey: 'hand-edited', endpoint: '{', secretName: 'pasted' });
    table.add(claim('pasted', 'hand-edited'));
    table.add(row({ ...valid('pasted-too'), secretName: 'pasted' }));
    const registry = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });

    // Act
    await registry.findBySecretName('some-other-apps-secret');
    await registry.findBySecretName('another-apps-secret');

    // Assess
    expect(table.asked).toEqual([1000, 1000]);
    expect(await table.getEntity('endpoint', '~secret~shared')).toMatchObject({ endpointId: 'first' });
    expect(await table.getEntity('endpoint', '~secret~pasted')).toMatchObject({ endpointId: 'hand-edited' });
  });
});

describe('Class: TableEndpointRegistry (Method: findBySecretName, misses meeting a scan)', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const valid = (id: string) => validateEndpoint({ id, arm: { ...arm, name: id } }, rules, at);

  it('answers a miss that arrives after the scan passed rows by walking again, when rows without claims are left', async () => {
    // Prepare: two rows from before claims; the second miss arrives once the first walk has read its page,
    // and reads its claim before the walk writes it. The walk leaves a row without its claim: two rows
    // from before claims share a secret, and the first to be claimed holds it.
    const table = new PagedTable();
    for (const [id, secretName] of [
      ['aa-legacy', 'aa-legacy-key'],
      ['mm-shares-one', 'shared-before-claims'],
      ['mm-shares-two', 'shared-before-claims'],
      ['zz-legacy', 'zz-legacy-key'],
    ] as const) {
      const endpoint = { ...valid(id), secretName };
      table.add({ partitionKey: 'endpoint', rowKey: id, endpoint: JSON.stringify(endpoint), secretName });
    }
    const registry = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });
    let late: Promise<unknown> | undefined;
    let lateHasRead!: () => void;
    const lateRead = new Promise<void>((resolve) => (lateHasRead = resolve));
    const getEntity = table.getEntity.bind(table);
    table.getEntity = async (partitionKey, rowKey) => {
      if (!rowKey.startsWith('~secret~aa-legacy')) return getEntity(partitionKey, rowKey);
      if (late) return getEntity(partitionKey, rowKey).finally(lateHasRead);
      if (table.asked.length === 1) late = registry.findBySecretName('aa-legacy-key');
      return getEntity(partitionKey, rowKey);
    };
    const createEntity = table.createEntity.bind(table);
    table.createEntity = async (row) => (await lateRead, createEntity(row));

    // Act
    const first = await registry.findBySecretName('zz-legacy-key');
    const second = await late;

    // Assess: one walk each
    expect(first).toEqual(valid('zz-legacy'));
    expect(second).toEqual(valid('aa-legacy'));
    expect(table.asked).toEqual([1000, 1000]);
  });
});

describe('Class: TableEndpointRegistry (Method: findByArm, misses meeting a scan)', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const valid = (id: string) => validateEndpoint({ id, arm: { ...arm, name: id } }, rules, at);

  it('finds a row whose claim the scan wrote after the miss had read it, when the scan finds every row claimed', async () => {
    // Prepare: two rows from before the coordinate claims; the lookup of the first misses its claim while
    // the walk another miss started is between reading that claim and writing it
    const table = new PagedTable();
    for (const id of ['aa-legacy', 'zz-legacy']) {
      const endpoint = valid(id);
      table.add({ partitionKey: 'endpoint', rowKey: id, endpoint: JSON.stringify(endpoint), secretName: id });
    }
    const registry = new TableEndpointRegistry({ table: table.asTableClient(), rules, now: () => at });
    const claimOfFirst = `~target~onlineendpoint~sub-1~rg~ws1~aa-legacy`;
    let late: Promise<unknown> | undefined;
    let lateHasRead!: () => void;
    const lateRead = new Promise<void>((resolve) => (lateHasRead = resolve));
    const getEntity = table.getEntity.bind(table);
    table.getEntity = async (partitionKey, rowKey) => {
      if (rowKey !== claimOfFirst) return getEntity(partitionKey, rowKey);
      if (late) return getEntity(partitionKey, rowKey).finally(lateHasRead);
      late = registry.findByArm('onlineEndpoint', { ...arm, name: 'AA-LEGACY' });
      return getEntity(partitionKey, rowKey);
    };
    const createEntity = table.createEntity.bind(table);
    table.createEntity = async (row) => (await lateRead, createEntity(row));

    // Act
    const first = await registry.findByArm('onlineEndpoint', { ...arm, name: 'zz-legacy' });
    const second = await late;

    // Assess: one walk, and the claim it wrote is the answer, not "nobody is registered there"
    expect(first).toEqual(valid('zz-legacy'));
    expect(second).toEqual(valid('aa-legacy'));
    expect(table.asked).toEqual([100]);
  });
});

describe('Class: TableEndpointRegistry (Method: findByArm, endpoints registered twice before the claims)', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const place = { ...arm, name: 'scoring' };
  const shouting = { subscriptionId: 'SUB-1', resourceGroup: 'RG', workspace: 'WS1', name: 'SCORING' };

  it('names each pair at one Azure ML endpoint once a walk, and counts them, the lookups answered as before', async () => {
    // Prepare: three registrations of one endpoint from before the coordinate claims (one retired, one in
    // another case), one elsewhere, and a row a file entry shadows there (it owns nothing); storage answers
    // two rows a request, so the walk meets the pairs on different pages
    const table = Object.assign(new PagedTable(), { serverPageLimit: 2 });
    const rows: [string, typeof arm, Record<string, unknown>?][] = [
      ['aa-first', place],
      ['bb-elsewhere', { ...arm, name: 'elsewhere' }],
      ['ff-shadowed', place],
      ['mm-second', shouting, { retiredAt: at }],
      ['zz-third', place],
    ];
    for (const [id, where, more] of rows) {
      const endpoint = { ...validateEndpoint({ id, arm: where }, rules, at), ...more };
      table.add({
        partitionKey: 'endpoint',
        rowKey: id,
        endpoint: JSON.stringify(endpoint),
        secretName: endpoint.secretName,
      });
    }
    const logger = new CapturingLogger();
    const telemetry = new CapturingTelemetry();
    const registry = new TableEndpointRegistry({
      table: table.asTableClient(),
      rules,
      endpointsFile: 'endpoints.json',
      readText: async () => JSON.stringify([{ id: 'ff-shadowed', arm: { ...arm, name: 'in-file' } }]),
      now: () => at,
      logger,
      telemetry,
    });

    // Act: two lookups of endpoints nobody registered, then the registered one
    const nobody = await registry.findByArm('onlineEndpoint', { ...arm, name: 'untagged-1' });
    const linesOfFirstWalk = logger.lines.length;
    await registry.findByArm('onlineEndpoint', { ...arm, name: 'untagged-2' });
    const found = await registry.findByArm('onlineEndpoint', shouting);

    // Assess: the second of each pair is never claimed, so each miss walks and names them again
    const pairs = [
      { endpointId: 'mm-second', alsoRegisteredAs: 'aa-first' },
      { endpointId: 'zz-third', alsoRegisteredAs: 'aa-first' },
    ];
    const warning = 'findByArm => one Azure ML endpoint registered twice, DELETE one of them';
    expect(nobody).toBeUndefined();
    expect(found?.id).toBe('aa-first');
    expect(linesOfFirstWalk).toBe(2);
    expect(logger.lines).toEqual(
      [...pairs, ...pairs].map((props) => ({ level: 'warn', message: warning, props })),
    );
    expect(telemetry.metrics).toEqual([
      { name: 'EndpointsRegisteredTwice', value: 2, props: undefined },
      { name: 'EndpointsRegisteredTwice', value: 2, props: undefined },
    ]);
  });

  it('names a row at the Azure ML endpoint of an ENDPOINTS_FILE entry under another id, with the entry', async () => {
    // Prepare: a row registered before the file declared its endpoint (in another case), and one elsewhere
    const table = new PagedTable();
    for (const [id, where] of [
      ['aa-elsewhere', { ...arm, name: 'elsewhere' }],
      ['table-scoring', place],
    ] as const) {
      const endpoint = validateEndpoint({ id, arm: where }, rules, at);
      table.add({ partitionKey: 'endpoint', rowKey: id, endpoint: JSON.stringify(endpoint), secretName: id });
    }
    const logger = new CapturingLogger();
    const telemetry = new CapturingTelemetry();
    const registry = new TableEndpointRegistry({
      table: table.asTableClient(),
      rules,
      endpointsFile: 'endpoints.json',
      readText: async () => JSON.stringify([{ id: 'file-scoring', arm: shouting }]),
      now: () => at,
      logger,
      telemetry,
    });

    // Act: a lookup of an endpoint nobody registered walks the rows; the endpoint's own lookup answers the entry
    const nobody = await registry.findByArm('onlineEndpoint', { ...arm, name: 'untagged' });
    const found = await registry.findByArm('onlineEndpoint', place);

    // Assess
    expect(nobody).toBeUndefined();
    expect(found?.id).toBe('file-scoring');
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        message: 'findByArm => one Azure ML endpoint registered twice, DELETE one of them',
        props: { endpointId: 'table-scoring', alsoRegisteredAs: 'file-scoring' },
      },
    ]);
    expect(telemetry.metrics).toEqual([{ name: 'EndpointsRegisteredTwice', value: 1, props: undefined }]);
  });

  it('names nothing when every endpoint is registered once', async () => {
    // Prepare: rows from before the claims, each at its own place
    const table = new PagedTable();
    for (const id of ['aa-one', 'bb-two']) {
      const endpoint = validateEndpoint({ id, arm: { ...arm, name: id } }, rules, at);
      table.add({ partitionKey: 'endpoint', rowKey: id, endpoint: JSON.stringify(endpoint), secretName: id });
    }
    const logger = new CapturingLogger();
    const telemetry = new CapturingTelemetry();
    const registry = new TableEndpointRegistry({
      table: table.asTableClient(),
      rules,
      now: () => at,
      logger,
      telemetry,
    });

    // Act
    const nobody = await registry.findByArm('onlineEndpoint', { ...arm, name: 'untagged' });

    // Assess
    expect(nobody).toBeUndefined();
    expect(table.asked).toEqual([100]);
    expect(logger.lines).toEqual([]);
    expect(telemetry.metrics).toEqual([]);
  });
});

describe('Class: TableEndpointRegistry (Method: fileEntryClash)', () => {
  const at = '2026-01-01T00:00:00.000Z';
  /** Rows as the rotation timer reads them: the file answers, so the table is never touched. */
  const row = (id: string, name: string, secretName: string) =>
    validateEndpoint({ id, arm: { ...arm, name }, secretName }, rules, at);
  const registryWith = (logger: CapturingLogger) =>
    new TableEndpointRegistry({
      table: unusedTable,
      rules,
      endpointsFile: 'endpoints.json',
      readText: async () =>
        JSON.stringify([
          { id: 'file-a', arm: { ...arm, name: 'a' }, secretName: 'Secret-A' },
          { id: 'file-b', arm: { ...arm, name: 'b' }, secretName: 'secret-b' },
        ]),
      now: () => at,
      logger,
    });

  it("names the entry a row shares its Azure ML endpoint with before one it shares its secret with, and none for the entry's own", async () => {
    // Prepare
    const registry = registryWith(new CapturingLogger());

    // Act
    const [both, secretOnly, none, entry, sameEntry] = await Promise.all([
      registry.fileEntryClash(row('row-1', 'a', 'secret-b')),
      registry.fileEntryClash(row('row-2', 'elsewhere', 'SECRET-A')),
      registry.fileEntryClash(row('row-3', 'elsewhere', 'secret-c')),
      registry.fileEntryClash(row('file-a', 'a', 'Secret-A')),
      registry.fileEntryClash(row('row-4', 'a', 'secret-a')),
    ]);

    // Assess: the entry whose secret a row at another entry's endpoint holds is named too (a key read there is its)
    expect(both).toEqual({ entry: 'file-a', shares: 'endpoint', secretOf: 'file-b' });
    expect(sameEntry).toEqual({ entry: 'file-a', shares: 'endpoint' });
    expect(secretOnly).toEqual({ entry: 'file-a', shares: 'secret' });
    expect(none).toBeUndefined();
    expect(entry).toBeUndefined();
  });

  it('warns of each row sharing an entry secret once per process, naming both ids and no secret', async () => {
    // Prepare: the timer asks of every row each tick
    const logger = new CapturingLogger();
    const registry = registryWith(logger);

    // Act
    for (let tick = 0; tick < 3; tick++) {
      await registry.fileEntryClash(row('row-1', 'one', 'secret-a'));
      await registry.fileEntryClash(row('row-2', 'two', 'secret-b'));
      await registry.fileEntryClash(row('row-3', 'a', 'secret-c'));
    }

    // Assess: a row at an entry's endpoint is named by the timer and the walks instead
    const message =
      'fileEntryClash => Key Vault secret declared in ENDPOINTS_FILE too, row not rotated, PATCH its secretName or DELETE it';
    expect(logger.lines).toEqual([
      { level: 'warn', message, props: { endpointId: 'row-1', alsoRegisteredAs: 'file-a' } },
      { level: 'warn', message, props: { endpointId: 'row-2', alsoRegisteredAs: 'file-b' } },
    ]);
    expect(logger.text()).not.toMatch(/secret-[abc]/i);
  });
});
