import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import { createServer, type Server } from 'node:net';

import { createPipelineRequest } from '@azure/core-rest-pipeline';

import { azuriteConnectionString } from '../../local/azurite';
import { AzureClients } from '../../shared/azureClients';
import { loadConfig } from '../../shared/config';
import { isTransientError } from '../../shared/retry';
import { failureOf, SilentServer } from '../support/SilentServer';
import { waitFor } from '../support/waitFor';

/**
 * A try of the app's transport (the SDK's Node client under `timeLimitedHttpClient`) that fails before
 * its time limit leaves no timer behind. The SDK clears its own `request.timeout` timer only when an
 * answer arrives, so each failed try kept a referenced 30-s timer: during an outage one per try, and a
 * test run that had finished held on ("Jest did not exit one second after the test run has completed").
 * Counted with an async hook: the referenced timers a try started that have neither fired nor been cleared.
 */
describe('The Azure clients’ transport after a failed try', () => {
  let dropping: Server;
  let droppingPort: number;
  let silent: SilentServer;
  let clients: AzureClients;

  beforeAll(async () => {
    // Accepts each connection and drops it at once: the stand-ins' outage, a dependency restarting.
    dropping = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
    droppingPort = (dropping.address() as { port: number }).port;
    silent = await SilentServer.start();
    // The default limit, 30 s: a timer left behind is still there when the test counts.
    const config = loadConfig({
      AzureWebJobsStorage: azuriteConnectionString({
        blob: droppingPort,
        queue: droppingPort,
        table: droppingPort,
      }),
      KEY_VAULT_URL: `https://127.0.0.1:${droppingPort}/`,
      BROKER_SECRET_PEPPER: 'p'.repeat(40),
    });
    clients = new AzureClients(config);
  });

  afterAll(async () => {
    await Promise.all([new Promise<void>((resolve) => dropping?.close(() => resolve())), silent?.stop()]);
  });

  /**
   * The timers `work` started (not the test runner's, which ticks meanwhile) that are still pending and
   * keep the process alive once it has settled (its failure is `work`'s to check).
   */
  async function timersLeftBy(work: () => Promise<unknown>): Promise<number> {
    const inWork = new AsyncLocalStorage<true>();
    const started = new Map<number, NodeJS.Timeout>();
    const hook = createHook({
      init: (id, type, _trigger, resource) => {
        if (type === 'Timeout' && inWork.getStore()) started.set(id, resource as NodeJS.Timeout);
      },
      destroy: (id) => void started.delete(id),
    }).enable();
    try {
      await inWork.run(true, work);
    } finally {
      // Destroy hooks of cleared and fired timers are emitted after the current tick.
      await new Promise((resolve) => setImmediate(resolve));
      hook.disable();
    }
    return [...started.values()].filter((timer) => timer.hasRef()).length;
  }
  const get = (port: number, options: { abortSignal?: AbortSignal; timeout?: number } = {}) =>
    createPipelineRequest({ url: `http://127.0.0.1:${port}/x`, allowInsecureConnection: true, ...options });

  it('a dropped connection fails the try at once and leaves no timer', async () => {
    // Act
    let failure: { error: unknown; ms: number } | undefined;
    const left = await timersLeftBy(async () => {
      failure = await failureOf(() => clients.httpClient.sendRequest(get(droppingPort)));
    });

    // Assess
    expect(isTransientError(failure?.error)).toBe(true);
    expect(failure?.ms).toBeLessThan(5000);
    expect(left).toBe(0);
  });

  it('a request with a time limit of its own (the broker’s token calls) leaves no timer either', async () => {
    // Act
    let failure: { error: unknown; ms: number } | undefined;
    const left = await timersLeftBy(async () => {
      failure = await failureOf(() => clients.httpClient.sendRequest(get(droppingPort, { timeout: 20_000 })));
    });

    // Assess
    expect(isTransientError(failure?.error)).toBe(true);
    expect(left).toBe(0);
  });

  it('a try its caller gives up (the cache’s fetch limit) ends, closes its connection and leaves no timer', async () => {
    // Prepare
    const connections = silent.connections().accepted;
    const caller = new AbortController();
    const giveUp = setTimeout(() => caller.abort(), 300);

    // Act
    let failure: { error: unknown; ms: number } | undefined;
    const left = await timersLeftBy(async () => {
      failure = await failureOf(() =>
        clients.httpClient.sendRequest(get(silent.port, { abortSignal: caller.signal })),
      );
    });
    clearTimeout(giveUp);

    // Assess
    expect(failure?.error).toMatchObject({ name: 'AbortError' });
    expect(failure?.ms).toBeLessThan(5000);
    expect(silent.connections().accepted).toBe(connections + 1);
    await waitFor('the connection closed', () => silent.connections().open === 0, { timeoutMs: 2000 });
    expect(left).toBe(0);
  });
});
