import { TableClient } from '@azure/data-tables';

import { type RunningAzurite, startAzurite } from '../../local/azurite';
import { ClientAuthenticator } from '../../shared/broker/ClientAuthenticator';
import { ClientNotAuthorizedError } from '../../shared/broker/errors';
import { SecretHasher } from '../../shared/broker/SecretHasher';
import { TableBrokerClientRegistry } from '../../shared/broker/TableBrokerClientRegistry';
import { finishesWithin, systemClock } from '../../shared/clock';
import { CapturingLogger } from '../fakes/capture';
import { clientRecord } from '../support/clientRecords';
import { ProcessPause } from '../support/ProcessPause';
import { sleep } from '../support/waitFor';

const hasher = new SecretHasher('integration-pepper-0123456789-abcdefghij');
const CACHE_TTL_MS = 300;
const RELOAD_WAIT_MS = 400;

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
});
