import type { RunningEmulators } from '../../local/emulators';
import { AzureClients } from '../../shared/azureClients';
import { type BrokerModule, createBrokerModule } from '../../shared/broker/module';
import { systemClock } from '../../shared/clock';
import { loadConfig } from '../../shared/config';
import type { ModuleRoot } from '../../shared/services';
import { CapturingAuditLog } from '../fakes/broker/CapturingAuditLog';
import { InMemoryBrokerClientRegistry } from '../fakes/broker/InMemoryBrokerClientRegistry';
import { InMemoryEndpointLookup, testEndpoint } from '../fakes/broker/InMemoryEndpointLookup';
import { serveBroker, type ServedBroker } from '../fakes/broker/serveBroker';
import { CapturingTelemetry } from '../fakes/capture';
import { INTEGRATION_PEPPER, useEmulatorIdentity, withEmulators } from '../support/emulators';
import { basicAuth } from '../support/httpParts';
import { sleep } from '../support/waitFor';

/**
 * An `AADToken` endpoint's token across MSAL renewing it, on the real clock: the app's credential
 * (`DefaultAzureCredential` → MSAL → the managed-identity stand-in) issues tokens of 302 s, so with the
 * default minimum lifetime of 300 s every token can be served for 1 to 2 s before MSAL, which hands out
 * its cached token until fewer than 300 s are left, renews it. Each renewal is the moment the broker used
 * to be handed a token it had to refuse (`tooShortLived`, then 30 s of 503s).
 */
const TOKEN_LIFETIME_SECONDS = 302;
/** Tokens to see: two renewals, about 3 s apart (1 to 2 s served, then MSAL's renewal point waited out). */
const TOKENS = 3;
/** Longest the requests go on for them. */
const RUN_LIMIT_MS = 20_000;

jest.setTimeout(60_000);

describe('The managed-identity token across MSAL renewing it', () => {
  let emulators: RunningEmulators;
  let module: BrokerModule;
  let served: ServedBroker;
  let auth: string;
  const logs: string[] = [];
  let restoreEnv: () => void = () => undefined;

  beforeAll(async () => {
    emulators = await withEmulators();
    restoreEnv = useEmulatorIdentity(emulators);
    emulators.control.setTokenLifetimeSeconds(TOKEN_LIFETIME_SECONDS);
    const config = loadConfig({
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      KEY_VAULT_URL: emulators.url,
      BROKER_SECRET_PEPPER: INTEGRATION_PEPPER,
    });
    const root: ModuleRoot = {
      config,
      clients: new AzureClients(config),
      telemetry: new CapturingTelemetry(),
      clock: systemClock,
    };
    const endpoints = new InMemoryEndpointLookup();
    endpoints.add(testEndpoint('demo-aad', 'AADToken'));
    module = createBrokerModule(root, {
      endpoints,
      clients: new InMemoryBrokerClientRegistry(),
      audit: new CapturingAuditLog(),
      logSink: (level, line) => void logs.push(`${level} ${line}`),
    });
    served = await serveBroker(module);
    const created = await module.admin.create({
      id: 'aad-client',
      displayName: 'AADToken client',
      allowedScopes: ['demo-aad'],
      rateLimitPerMinute: 100_000,
    });
    auth = basicAuth(created.client.id, created.primarySecret);
  });

  afterAll(async () => {
    await module?.audit.close();
    await served?.close();
    await emulators?.stop();
    restoreEnv();
  });

  it('is served to steady requests without a 503, never with under 300 s left', async () => {
    // Prepare
    emulators.control.resetCounters();
    const statuses: number[] = [];
    const tokens = new Set<string>();
    let shortestLeftSeconds = Infinity;
    const endMs = Date.now() + RUN_LIMIT_MS;

    // Act: two concurrent requests every 50 ms, until MSAL has renewed its token twice
    while (tokens.size < TOKENS && Date.now() < endMs) {
      // Each reply's time taken as its headers arrive (the broker answered before then), not after the other
      // reply's body was read: on a busy machine that wait alone took the margin the check allows.
      const replies = await Promise.all(
        [1, 2].map(() =>
          fetch(`${served.url}/api/endpoints/demo-aad/token`, {
            method: 'POST',
            headers: { authorization: auth },
          }).then((reply) => ({ reply, receivedAtSeconds: Date.now() / 1000 })),
        ),
      );
      for (const { reply, receivedAtSeconds } of replies) {
        statuses.push(reply.status);
        if (reply.status !== 200) continue;
        const body = (await reply.json()) as { accessToken: string; expiryTimeUtc: number };
        tokens.add(body.accessToken);
        shortestLeftSeconds = Math.min(shortestLeftSeconds, body.expiryTimeUtc - receivedAtSeconds);
      }
      await sleep(50);
    }

    // Assess: MSAL renewed the token twice, and no request was refused for it
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(tokens.size).toBe(TOKENS);
    // Each identity call gave a token that was served, but one: a refresh ahead may have fetched the next
    // token while the last replies were read (each 302-s token is servable for 2 s only).
    const identityCalls = emulators.control.counters()['identity.token'] ?? 0;
    expect(identityCalls).toBeGreaterThanOrEqual(tokens.size);
    expect(identityCalls).toBeLessThanOrEqual(tokens.size + 1);
    expect(shortestLeftSeconds).toBeGreaterThanOrEqual(299);
    expect(logs.filter((line) => line.includes('upstream failed'))).toEqual([]);
  });
});
