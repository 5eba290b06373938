import { TableClient } from '@azure/data-tables';
import { SecretClient } from '@azure/keyvault-secrets';

import { TableBrokerClientRegistry } from '../../shared/broker/TableBrokerClientRegistry';
import { silentLogger } from '../../shared/logging';
import { createTelemetry, readHostSampling } from '../../shared/telemetry';

/**
 * Child process of test/integration/telemetry.appinsights.test.ts. It loads the Azure SDK and `https`
 * before telemetry starts, as the app does (services start telemetry lazily), then sends one custom
 * event, one metric, another one twice, one Key Vault SDK call (answered 404 by the fake) and one broker
 * client registry read of an id that is a client secret (as `curl -u "$SECRET:$ID"` makes the broker do)
 * against Azurite, flushes through the adapter (`Telemetry.flush`, as the app's shutdown hook does) and
 * exits.
 * Arguments: connection string, base URL of the fake ingestion endpoint, a secret value to leak-check,
 * Azurite's connection string, a client secret to look up as a client id.
 */
async function main(): Promise<void> {
  const [connectionString, base, secret, storage, clientSecret] = process.argv.slice(2);
  const table = TableClient.fromConnectionString(storage!, 'probeBrokerClients', {
    allowInsecureConnection: true,
  });
  const telemetry = createTelemetry({
    connectionString,
    roleName: 'aml-credential-broker',
    sampling: { ...readHostSampling(), tracesPerSecond: 0 },
    logger: silentLogger,
  });
  telemetry.trackEvent('RotationFailed', { endpointId: 'demo', step: 'set', keyValue: secret });
  telemetry.trackMetric('RotationDurationMs', 1234, { endpointId: 'demo' });
  // Two upstream fetches with the same dimensions, as a busy instance makes within a minute.
  for (const ms of [100, 300]) {
    telemetry.trackMetric('BrokerUpstreamLatencyMs', ms, { upstream: 'amlToken', outcome: 'success' });
  }
  const credential = {
    getToken: async () => ({ token: 'probe-token', expiresOnTimestamp: Date.now() + 3.6e6 }),
  };
  const secrets = new SecretClient(`${base}/vault`, credential, {
    disableChallengeResourceVerification: true,
  });
  await secrets.getSecret('probe-secret').catch(() => undefined);
  await new TableBrokerClientRegistry({ table }).get(clientSecret!);
  // Our flush alone, then exit at once: what the test finds was sent by it, as on graceful shutdown.
  await telemetry.flush();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : 'probe failed');
    process.exit(1);
  },
);
