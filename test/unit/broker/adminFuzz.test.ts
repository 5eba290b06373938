import fc from 'fast-check';

import { manageClientHandler } from '../../../functions/manageClient';
import { manageClientsHandler } from '../../../functions/manageClients';
import { manageClientSecretHandler } from '../../../functions/manageClientSecret';
import { buildTestBroker } from '../../fakes/broker/buildTestBroker';
import {
  expectCleanCreates,
  expectCleanUpdates,
  expectClientErrorShape,
  fuzzContext,
  jsonBody,
  printable,
  routeRequest,
} from '../../support/fuzzInput';

const VALID_CREATE = {
  id: 'fuzz-client',
  displayName: 'Fuzzed client',
  allowedScopes: ['demo-token', 'https://ml.azure.com'],
  rateLimitPerMinute: 600,
  enabled: true,
  keyAccess: false,
  expiresAt: '2030-01-01T00:00:00Z',
};
const { id: _id, ...VALID_UPDATE } = VALID_CREATE;
const clientId = fc.oneof(fc.constant('client-1'), printable);

describe('Admin routes for broker clients under fuzzed input', () => {
  const t = buildTestBroker();
  const clients = manageClientsHandler(() => t.module);
  const client = manageClientHandler(() => t.module);
  const secrets = manageClientSecretHandler(() => t.module);
  const snapshot = () => JSON.stringify([...t.registry.records.entries()]);
  beforeAll(async () => {
    await t.addClient({ allowedScopes: ['demo-token'] });
  });

  it('POST manage/clients answers 201 or a problem 4xx, and a refused create stores nothing', async () => {
    await expectCleanCreates(jsonBody(VALID_CREATE), clients, snapshot, (created) =>
      t.module.admin.delete((created as { client: { id: string } }).client.id),
    );
  });

  it('PATCH manage/clients/{id} answers 200 or a problem 4xx, and a refused update changes nothing', async () => {
    await expectCleanUpdates(clientId, jsonBody(VALID_UPDATE), client, snapshot);
  });

  it('GET manage/clients/{id} and POST …/secrets/{slot} never answer 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        clientId,
        fc.oneof(fc.constantFrom('primary', 'secondary'), printable),
        async (id, slot) => {
          expectClientErrorShape(await client(routeRequest('GET', { id }), fuzzContext));
          expectClientErrorShape(await secrets(routeRequest('POST', { id, slot }), fuzzContext));
        },
      ),
      { numRuns: 200 },
    );
  });
});
