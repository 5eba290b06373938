import fc from 'fast-check';

import { manageEndpointHandler } from '../../../functions/manageEndpoint';
import { manageEndpointRotateHandler } from '../../../functions/manageEndpointRotate';
import { manageEndpointsHandler } from '../../../functions/manageEndpoints';
import { buildRotationFixture } from '../../fakes/rotation/buildRotationFixture';
import {
  expectCleanCreates,
  expectCleanUpdates,
  expectClientErrorShape,
  fuzzContext,
  jsonBody,
  printable,
  routeRequest,
} from '../../support/fuzzInput';

const VALID_ONLINE = {
  id: 'fuzz-online',
  kind: 'onlineEndpoint',
  arm: { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'fuzz-online' },
  authMode: 'Key',
  secretName: 'fuzz-online-key',
  rotationPeriodHours: 100,
  gracePeriodHours: 25,
  probe: { method: 'POST', path: '/score', body: '{}', acceptedStatuses: [200, 422] },
  brokerKeyAccess: false,
  enabled: true,
};
const VALID_V1 = {
  id: 'fuzz-aci',
  kind: 'v1WebService',
  arm: { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'fuzz-aci' },
  authMode: 'Key',
  v1: { computeType: 'ACI', region: 'westeurope' },
};
const VALID_UPDATE = {
  rotationPeriodHours: 48,
  gracePeriodHours: 24,
  probe: { method: 'GET', path: '', body: '', acceptedStatuses: [200] },
  enabled: false,
  brokerKeyAccess: true,
};
const endpointId = fc.oneof(fc.constant('demo-key'), printable);

describe('Admin routes for endpoints under fuzzed input', () => {
  const f = buildRotationFixture();
  const collection = manageEndpointsHandler(() => f.services);
  const item = manageEndpointHandler(() => f.services);
  const rotate = manageEndpointRotateHandler(() => f.services);
  const snapshot = () => JSON.stringify([...f.registry.endpoints.entries()]);
  f.addEndpoint();

  it('POST manage/endpoints answers 201 or a problem 4xx, and a refused registration stores nothing', async () => {
    const bodies = fc.oneof(jsonBody(VALID_ONLINE), jsonBody(VALID_V1));
    await expectCleanCreates(bodies, collection, snapshot, (created) =>
      f.services.admin.remove((created as { id: string }).id),
    );
  });

  it('PATCH manage/endpoints/{id} answers 200 or a problem 4xx, and a refused update changes nothing', async () => {
    await expectCleanUpdates(endpointId, jsonBody(VALID_UPDATE), item, snapshot);
  });

  it('GET manage/endpoints/{id} and POST …/rotate never answer 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(endpointId, async (id) => {
        expectClientErrorShape(await item(routeRequest('GET', { id }), fuzzContext));
        expectClientErrorShape(await rotate(routeRequest('POST', { id }), fuzzContext));
      }),
      { numRuns: 200 },
    );
  });
});
