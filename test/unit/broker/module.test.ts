import type { TokenCredential } from '@azure/identity';
import type { SecretClient } from '@azure/keyvault-secrets';

import { AzureClients } from '../../../shared/azureClients';
import { createBrokerModule } from '../../../shared/broker/module';
import { loadConfig } from '../../../shared/config';
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
});
