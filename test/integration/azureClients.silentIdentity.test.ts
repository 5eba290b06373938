import { AzureClients } from '../../shared/azureClients';
import { loadConfig } from '../../shared/config';
import { failureOf, SilentServer } from '../support/SilentServer';
import { waitFor } from '../support/waitFor';

const TRY_TIME_LIMIT_MS = 400;

/**
 * The app's credential facing a managed identity endpoint that accepts connections and never answers:
 * its request is given up after `tryTimeLimitMs` and its connection closed (see
 * `azureClients.silentDependency.test.ts` for the other clients).
 */
describe('The managed identity not answering', () => {
  let silent: SilentServer;
  const saved = { ...process.env };

  beforeAll(async () => {
    silent = await SilentServer.start();
    process.env['IDENTITY_ENDPOINT'] = `http://127.0.0.1:${silent.port}/msi/token`;
    process.env['IDENTITY_HEADER'] = 'identity-header';
    // The chain Azure runs, without the developer tools. (Naming one credential, as the local stack
    // does, makes DefaultAzureCredential drop its options, the transport among them.)
    process.env['AZURE_TOKEN_CREDENTIALS'] = 'prod';
  });

  afterAll(async () => {
    process.env = saved;
    await silent?.stop();
  });

  it('a token request is given up and its connection closed', async () => {
    const config = loadConfig({
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
      BROKER_SECRET_PEPPER: 'p'.repeat(40),
    });
    const clients = new AzureClients(config, { tryTimeLimitMs: TRY_TIME_LIMIT_MS });
    const { error, ms } = await failureOf(() => clients.credential.getToken('https://ml.azure.com/.default'));
    expect(error).toMatchObject({ name: 'AggregateAuthenticationError' });
    expect(ms).toBeLessThan(10 * TRY_TIME_LIMIT_MS);
    expect(silent.connections().accepted).toBeGreaterThan(0);
    await waitFor('every connection closed', () => silent.connections().open === 0, { timeoutMs: 2000 });
  });
});
