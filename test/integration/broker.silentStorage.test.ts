import {
  createDefaultHttpClient,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { TableClient } from '@azure/data-tables';

import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { AzureClients } from '../../shared/azureClients';
import type { AuditEntry } from '../../shared/broker/AuditLog';
import { ClientAuthenticator } from '../../shared/broker/ClientAuthenticator';
import { ClientNotAuthorizedError } from '../../shared/broker/errors';
import { parseScope } from '../../shared/broker/scope';
import { ScopeResolver } from '../../shared/broker/ScopeResolver';
import { SecretHasher } from '../../shared/broker/SecretHasher';
import { TableAuditLog } from '../../shared/broker/TableAuditLog';
import { TableBatchInserts } from '../../shared/broker/TableBatchInserts';
import { TableBrokerClientRegistry } from '../../shared/broker/TableBrokerClientRegistry';
import { finishesWithin, systemClock, TimeLimitError } from '../../shared/clock';
import type { AppConfig } from '../../shared/config';
import { createTableOnce } from '../../shared/createOnce';
import type { ManagedEndpoint } from '../../shared/endpoints/ManagedEndpoint';
import { TableEndpointRegistry } from '../../shared/endpoints/TableEndpointRegistry';
import { DependencyUnavailableError } from '../../shared/errors';
import { dependencyProbes, HealthCheck } from '../../shared/health';
import { timeLimitedHttpClient } from '../../shared/timeLimitedHttpClient';
import { FakeUpstreamSource } from '../fakes/broker/FakeUpstreamSource';
import { CapturingLogger, CapturingTelemetry } from '../fakes/capture';
import { clientRecord } from '../support/clientRecords';
import { ProcessPause } from '../support/ProcessPause';
import { sleep, waitFor } from '../support/waitFor';

const hasher = new SecretHasher('integration-pepper-0123456789-abcdefghij');
const CACHE_TTL_MS = 300;
const RELOAD_WAIT_MS = 400;
/** The broker's time limit on a Table read or write, cut short. */
const TIME_LIMIT_MS = 300;
/** The transport's limit on one try, far beyond the broker's time limit (as 30 s is beyond 10 s). */
const TRY_TIME_LIMIT_MS = 20_000;

/** The transport the app's Azure clients share (a time limit on each try), counting the requests it holds. */
class CountedTransport implements HttpClient {
  open = 0;
  private readonly inner = timeLimitedHttpClient(createDefaultHttpClient(), TRY_TIME_LIMIT_MS);

  async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    this.open += 1;
    try {
      return await this.inner.sendRequest(request);
    } finally {
      this.open -= 1;
    }
  }
}

/**
 * Table storage that stops answering (Azurite paused with SIGSTOP: connections open, no answer). The
 * Tables SDK sets no time limit on a request, so a re-read of an expired client record would hold every
 * token request up; the broker serves the record it has instead, after a short wait, and takes the
 * new answer once storage speaks again.
 */
describe('Broker client lookups while Table storage is silent', () => {
  let azurite: RunningAzurite;
  let registry: TableBrokerClientRegistry;
  let storage: ProcessPause | undefined;

  beforeAll(async () => {
    azurite = await startAzurite();
    storage = new ProcessPause(azurite.pid, 'Azurite');
    const table = TableClient.fromConnectionString(azurite.connectionString, 'silentBrokerClients', {
      allowInsecureConnection: true,
    });
    registry = new TableBrokerClientRegistry({ table });
  }, 60_000);

  afterAll(async () => {
    storage?.resume();
    await azurite?.stop();
  });

  it('serves the cached record within reloadWaitMs, and reads the registry again once storage answers', async () => {
    // Prepare: a client, authenticated once, whose cached record has expired
    const secret = SecretHasher.generateSecret();
    await registry.create(clientRecord('silent-client', hasher, secret));
    const authenticator = new ClientAuthenticator({
      registry,
      hasher,
      clock: systemClock,
      logger: new CapturingLogger(),
      defaultRateLimitPerMinute: 600,
      cacheTtlMs: CACHE_TTL_MS,
      reloadWaitMs: RELOAD_WAIT_MS,
    });
    await authenticator.authenticate('silent-client', secret);
    await sleep(CACHE_TTL_MS + 50);

    // Act: storage goes silent
    storage?.pause();
    const started = Date.now();
    const first = await authenticator.authenticate('silent-client', secret);
    const firstMs = Date.now() - started;
    const meanwhile = await authenticator.authenticate('silent-client', secret);
    const directRead = registry.get('silent-client');
    const directReadAnswered = await finishesWithin(directRead, 1000);
    // Storage answers again; the client is disabled meanwhile
    storage?.resume();
    const stored = await directRead;
    if (!stored) throw new Error('the client record is gone');
    await registry.update({ ...stored, enabled: false });
    await sleep(CACHE_TTL_MS + 50);
    const afterwards = authenticator.authenticate('silent-client', secret);

    // Assess
    expect(directReadAnswered).toBe(false); // the SDK alone would still be waiting
    expect([first.id, meanwhile.id]).toEqual(['silent-client', 'silent-client']);
    expect(firstMs).toBeGreaterThanOrEqual(RELOAD_WAIT_MS - 50);
    expect(firstMs).toBeLessThan(RELOAD_WAIT_MS + 2000);
    await expect(afterwards).rejects.toThrow(ClientNotAuthorizedError);
  }, 30_000);

  describe('a read or write given up at its time limit closes its request', () => {
    let transport: CountedTransport;
    const tableClient = (name: string): TableClient =>
      TableClient.fromConnectionString(azurite.connectionString, name, {
        httpClient: transport,
        allowInsecureConnection: true,
      });

    beforeEach(() => {
      transport = new CountedTransport();
    });
    const decision = (clientId: string): AuditEntry => ({
      timeMs: Date.now(),
      clientId,
      scope: 'demo-token',
      protocol: 'oauth',
      outcome: 'issued',
      upstream: 'amlToken',
    });

    /**
     * Runs `work` while storage is silent, then checks that no request is left open once it is over: given
     * up, not held on the silent connection until the transport's try limit (one per read, at request rate).
     */
    async function whileSilent<T>(work: () => Promise<T>): Promise<T> {
      storage?.pause();
      try {
        const outcome = await work();
        await waitFor('no request left open', () => transport.open === 0, {
          timeoutMs: 2000,
          intervalMs: 20,
          describe: () => `${transport.open} request(s) still open`,
        });
        return outcome;
      } finally {
        storage?.resume();
      }
    }

    it('a client record read (a client not cached): 503 at the limit', async () => {
      // Prepare: the table exists (its creation is shared, and not what is given up)
      const registry = new TableBrokerClientRegistry({ table: tableClient('abortBrokerClients') });
      await registry.get('nobody');
      const authenticator = new ClientAuthenticator({
        registry,
        hasher,
        clock: systemClock,
        logger: new CapturingLogger(),
        defaultRateLimitPerMinute: 600,
        readTimeLimitMs: TIME_LIMIT_MS,
      });

      // Act
      const refused = await whileSilent(() =>
        authenticator.authenticate('cold-client', SecretHasher.generateSecret()).catch((e: unknown) => e),
      );

      // Assess
      expect(refused).toMatchObject({ dependency: 'clientRegistry' });
    }, 30_000);

    it('an endpoint lookup (a scope not cached): 503 at the limit', async () => {
      // Prepare
      const endpoints = new TableEndpointRegistry({
        table: tableClient('abortEndpoints'),
        rules: { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24 },
        now: () => new Date().toISOString(),
      });
      await endpoints.get('nobody');
      const resolver = new ScopeResolver({
        endpoints,
        clock: systemClock,
        logger: new CapturingLogger(),
        sources: {
          amlToken: new FakeUpstreamSource<ManagedEndpoint>('amlToken', systemClock),
          managedIdentity: new FakeUpstreamSource<string>('managedIdentity', systemClock),
          keyVault: new FakeUpstreamSource<ManagedEndpoint>('keyVault', systemClock),
        },
        readTimeLimitMs: TIME_LIMIT_MS,
      });
      const scope = parseScope('cold-endpoint');
      if (!scope) throw new Error('test scope did not parse');

      // Act
      const refused = await whileSilent(() => resolver.resolve(scope).catch((e: unknown) => e));

      // Assess
      expect(refused).toBeInstanceOf(DependencyUnavailableError);
      expect(refused).toMatchObject({ dependency: 'endpointRegistry' });
    }, 30_000);

    it('an audit batch write: its rows held for the next try, written once storage answers', async () => {
      // Prepare: the table exists, a first decision written
      const table = tableClient('abortAudit');
      const logger = new CapturingLogger();
      const audit = new TableAuditLog({
        table: new TableBatchInserts(table, transport),
        logger,
        telemetry: new CapturingTelemetry(),
        flushDelayMs: 10_000,
        writeTimeLimitMs: TIME_LIMIT_MS,
      });
      audit.record(decision('before'));
      await audit.flush();

      // Act
      audit.record(decision('silent'));
      await whileSilent(() => audit.flush());
      await audit.close();

      // Assess
      expect(logger.lines.map((l) => [l.message, l.props?.['error']])).toContainEqual([
        'write => storage failing, entries held for retry',
        'TimeLimitError',
      ]);
      const written: string[] = [];
      for await (const row of table.listEntities<{ clientId: string }>()) written.push(row.clientId);
      expect(written.sort()).toEqual(['before', 'silent']);
    }, 30_000);

    it('an audit write in progress when close stops waiting: its rows reported lost at closeTimeoutMs', async () => {
      // Prepare: the table exists; the write's own limit is far beyond the close's
      const telemetry = new CapturingTelemetry();
      const audit = new TableAuditLog({
        table: new TableBatchInserts(tableClient('abortAuditClose'), transport),
        logger: new CapturingLogger(),
        telemetry,
        flushDelayMs: 10_000,
        closeTimeoutMs: TIME_LIMIT_MS,
      });
      audit.record(decision('before'));
      await audit.flush();

      // Act
      audit.record(decision('silent'));
      await whileSilent(() => audit.close());

      // Assess (the row may still land: storage may read a request whose connection closed)
      expect(telemetry.events.map((e) => [e.name, e.props?.['why']])).toEqual([['AuditRowsLost', 'closed']]);
    }, 30_000);

    it('a table creation (createTableOnce): TimeLimitError at its limit', async () => {
      // Prepare
      const ensure = createTableOnce(tableClient('abortCreation'), TIME_LIMIT_MS);

      // Act
      const outcome = await whileSilent(() => ensure().catch((e: unknown) => e));

      // Assess
      expect(outcome).toBeInstanceOf(TimeLimitError);
    }, 30_000);

    it("the health check's Table probe: down (Timeout) at its limit", async () => {
      // Prepare: only the Table probe, on this transport
      const clients = { table: tableClient } as unknown as Pick<
        AzureClients,
        'table' | 'queue' | 'secrets' | 'credential'
      >;
      const config = { tables: { journal: 'abortHealth' } } as Pick<AppConfig, 'tables' | 'rotation'>;
      const probes = dependencyProbes(clients, config).filter((probe) => probe.name === 'tables');
      const health = new HealthCheck({ probes, timeoutMs: TIME_LIMIT_MS });

      // Act
      const report = await whileSilent(() => health.run());

      // Assess
      expect(report.dependencies).toEqual([expect.objectContaining({ status: 'down', reason: 'Timeout' })]);
    }, 30_000);
  });
});
