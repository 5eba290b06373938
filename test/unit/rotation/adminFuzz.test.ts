import { InvocationContext } from '@azure/functions';
import fc from 'fast-check';

import { manageEndpointHandler } from '../../../functions/manageEndpoint';
import { manageEndpointRotateHandler } from '../../../functions/manageEndpointRotate';
import { manageEndpointsHandler } from '../../../functions/manageEndpoints';
import { buildRotationFixture } from '../../fakes/rotation/buildRotationFixture';
import {
  expectCleanAnswer,
  expectClientErrorShape,
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
  const context = new InvocationContext({ invocationId: 'fuzz', logHandler: () => undefined });
  const collection = manageEndpointsHandler(() => f.services);
  const item = manageEndpointHandler(() => f.services);
  const rotate = manageEndpointRotateHandler(() => f.services);
  const snapshot = () => JSON.stringify([...f.registry.endpoints.entries()]);
  f.addEndpoint();

  it('POST manage/endpoints answers 201 or a problem 4xx, and a refused registration stores nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(jsonBody(VALID_ONLINE), jsonBody(VALID_V1)), async (body) => {
        const req = routeRequest('POST', {}, body);
        const response = await expectCleanAnswer(snapshot, () => collection(req, context));
        // A registration that succeeded is undone, so the next run's id is free again.
        if ((response.status ?? 200) < 400)
          await f.services.admin.remove((response.jsonBody as { id: string }).id);
      }),
      { numRuns: 300 },
    );
  });

  it('PATCH manage/endpoints/{id} answers 200 or a problem 4xx, and a refused update changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(endpointId, jsonBody(VALID_UPDATE), async (id, body) => {
        const req = routeRequest('PATCH', { id }, body);
        await expectCleanAnswer(snapshot, () => item(req, context));
      }),
      { numRuns: 300 },
    );
  });

  it('GET manage/endpoints/{id} and POST …/rotate never answer 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(endpointId, async (id) => {
        expectClientErrorShape(await item(routeRequest('GET', { id }), context));
        expectClientErrorShape(await rotate(routeRequest('POST', { id }), context));
      }),
      { numRuns: 200 },
    );
  });
});
