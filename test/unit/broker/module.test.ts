import type { TokenCredential } from '@azure/identity';
import type { SecretClient } from '@azure/keyvault-secrets';

import { AzureClients } from '../../../shared/azureClients';
import { ClientLookupsBusyError, ClientNotAuthorizedError } from '../../../shared/broker/errors';
import { createBrokerModule } from '../../../shared/broker/module';
import { loadConfig } from '../../../shared/config';
import { buildTestBroker } from '../../fakes/broker/buildTestBroker';
import { CapturingAuditLog } from '../../fakes/broker/CapturingAuditLog';
import { InMemoryBrokerClientRegistry } from '../../fakes/broker/InMemoryBrokerClientRegistry';
import { InMemoryEndpointLookup, testEndpoint } from '../../fakes/broker/InMemoryEndpointLookup';
import { CapturingTelemetry } from '../../fakes/capture';
import { FakeClock } from '../../fakes/FakeClock';
import { waitFor } from '../../support/waitFor';

/** The composition root's clients, with a credential and a Key Vault client that record their calls and never answer. */
class SilentClients extends AzureClients {
  readonly tokenCalls: unknown[][] = [];
  readonly secretCalls: unknown[][] = [];

  override get credential(): TokenCredential {
    return {
      getToken: (...args: unknown[]) => {
        this.tokenCalls.push(args);
        return new Promise(() => undefined);
      },
    };
  }

  override get secrets(): SecretClient {
    return {
      getSecret: (...args: unknown[]) => {
        this.secretCalls.push(args);
        return new Promise(() => undefined);
      },
    } as unknown as SecretClient;
  }
}

describe('Function: createBrokerModule', () => {
  it('hands the token cache abort signal to the managed identity and Key Vault calls', async () => {
    // Prepare
    const config = loadConfig({
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      KEY_VAULT_URL: 'https://example.vault.azure.net',
      BROKER_SECRET_PEPPER: 'unit-pepper-0123456789abcdefghijklmnopqrstuv',
    });
    const clients = new SilentClients(config);
    const endpoints = new InMemoryEndpointLookup();
    endpoints.add(testEndpoint('demo-key', 'Key', { brokerKeyAccess: true }));
    const module = createBrokerModule(
      { config, clients, telemetry: new CapturingTelemetry(), clock: new FakeClock() },
      {
        endpoints,
        clients: new InMemoryBrokerClientRegistry(),
        audit: new CapturingAuditLog(),
        logSink: () => undefined,
      },
    );
    const { primarySecret } = await module.admin.create({
      id: 'client-1',
      displayName: 'Client',
      allowedScopes: ['https://ml.azure.com', 'demo-key'],
      keyAccess: true,
    });

    // Act
    for (const scope of ['https://ml.azure.com', 'demo-key']) {
      void module.broker
        .vend({ protocol: 'oauth', clientId: 'client-1', secret: primarySecret, scope })
        .catch(() => undefined);
    }
    await waitFor('both upstream calls', () => clients.tokenCalls.length + clients.secretCalls.length === 2);

    // Assess
    expect(clients.tokenCalls[0]?.[1]).toEqual({ abortSignal: expect.any(AbortSignal) as unknown });
    expect(clients.secretCalls[0]?.[1]).toEqual({ abortSignal: expect.any(AbortSignal) as unknown });
  });

  it('spends at most BROKER_CLIENT_COLD_READS_PER_SECOND reads on made-up ids, and reads clients an admin write touched at once', async () => {
    // Prepare: 1 read a second (bursts of 10), a client in use, then 200 made-up ids in one instant
    const { module, registry, addClient, audit } = buildTestBroker({
      BROKER_CLIENT_COLD_READS_PER_SECOND: '1',
    });
    const vend = (clientId: string, secret: string) =>
      module.broker.vend({ protocol: 'oauth', clientId, secret, scope: 'demo-token' });
    const inUse = await addClient();
    await vend(inUse.id, inUse.primary);
    const readsBefore = registry.reads;
    const flood = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => vend(`made-up-${i}`, 'guess')),
    );
    const floodReads = registry.reads - readsBefore;

    // Act: the client in use, a client created now, and a client disabled now, while reads are held back
    const served = await vend(inUse.id, inUse.primary);
    const readsServing = registry.reads - readsBefore - floodReads;
    const created = await addClient();
    const createdServed = await vend(created.id, created.primary);
    await module.admin.update(inUse.id, { enabled: false });
    const disabled = await vend(inUse.id, inUse.primary).catch((e: unknown) => e);

    // Assess
    expect(floodReads).toBeLessThanOrEqual(10);
    expect(flood.every((r) => r.status === 'rejected')).toBe(true);
    expect(flood.at(-1)).toMatchObject({ reason: expect.any(ClientLookupsBusyError) as unknown });
    expect(audit.entries.some((e) => e.reason === 'ClientLookupsBusy')).toBe(true);
    expect([served.scope, readsServing]).toEqual(['demo-token', 0]);
    expect(createdServed.scope).toBe('demo-token');
    expect(disabled).toBeInstanceOf(ClientNotAuthorizedError);
  });
});
