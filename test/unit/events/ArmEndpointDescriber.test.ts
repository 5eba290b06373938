import { RestError } from '@azure/core-rest-pipeline';

import { DependencyFailedError, DependencyUnavailableError } from '../../../shared/errors';
import {
  ArmEndpointDescriber,
  type OnlineEndpointsGetter,
  type ServerlessEndpointGetter,
} from '../../../shared/events/EndpointDescriber';
import { buildTestEventsModule } from '../../fakes/events/buildTestEventsModule';
import { actions, fixture, send } from './webhookTestKit';

const coords = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws', name: 'e1' };

function describerWith(
  get: OnlineEndpointsGetter['get'],
  serverless: ServerlessEndpointGetter = () => Promise.reject(new Error('not expected')),
) {
  const calls: string[] = [];
  const describer = new ArmEndpointDescriber({
    onlineEndpoints: (sub) => ({
      get: (rg, ws, name) => (calls.push(`${sub}/${rg}/${ws}/${name}`), get(rg, ws, name)),
    }),
    serverlessEndpoints: (arm) => (calls.push(`serverless ${arm.workspace}/${arm.name}`), serverless(arm)),
  });
  return { describer, calls };
}

describe('Class: ArmEndpointDescriber', () => {
  describe('Method: describe', () => {
    it('returns auth mode and tags from the ARM GET of the endpoint', async () => {
      // Prepare
      const { describer, calls } = describerWith(async () => ({
        tags: { team: 'a' },
        properties: { authMode: 'Key' },
      }));

      // Act
      const description = await describer.describe(coords);

      // Assess
      expect(description).toEqual({ authMode: 'Key', tags: { team: 'a' } });
      expect(calls).toEqual(['sub-1/rg/ws/e1']);
    });

    it('returns undefined for a 404 (deleted, or not an online endpoint)', async () => {
      // Prepare
      const { describer } = describerWith(() =>
        Promise.reject(Object.assign(new Error('nf'), { statusCode: 404 })),
      );

      // Act + Assess
      expect(await describer.describe(coords)).toBeUndefined();
    });

    it('propagates other failures so the router can decide retry vs acknowledge', async () => {
      // Prepare
      const failure = Object.assign(new Error('busy'), { statusCode: 503 });
      const { describer } = describerWith(() => Promise.reject(failure));

      // Act + Assess
      await expect(describer.describe(coords)).rejects.toBe(failure);
    });

    it('answers a definite refusal (403: no read role on the workspace) as DependencyFailedError, not as a raw SDK error', async () => {
      // Prepare
      const refused = new RestError('The client does not have authorization', {
        statusCode: 403,
        code: 'AuthorizationFailed',
      });
      const { describer } = describerWith(() => Promise.reject(refused));

      // Act + Assess
      await expect(describer.describe(coords)).rejects.toBeInstanceOf(DependencyFailedError);
    });
  });

  describe('Method: describe (serverless)', () => {
    it('reads a serverless endpoint’s auth mode with its own GET; gone (404) or being deleted is undefined', async () => {
      // Prepare
      const notFound = new DependencyFailedError('arm', 'arm refused the request (HTTP 404).', 404);
      const serverless = (answer: () => Promise<{ authMode?: string; provisioningState?: string }>) =>
        describerWith(() => Promise.reject(new Error('not an online endpoint')), answer);
      const live = serverless(async () => ({ authMode: 'Key', provisioningState: 'Succeeded' }));

      // Act
      const described = await live.describer.describe(coords, 'serverlessEndpoint');
      const deleting = await serverless(async () => ({
        authMode: 'Key',
        provisioningState: 'Deleting',
      })).describer.describe(coords, 'serverlessEndpoint');
      const gone = await serverless(() => Promise.reject(notFound)).describer.describe(
        coords,
        'serverlessEndpoint',
      );

      // Assess
      expect(described).toEqual({ authMode: 'Key', tags: {} });
      expect(live.calls).toEqual(['serverless ws/e1']);
      expect([deleting, gone]).toEqual([undefined, undefined]);
    });

    it('lets a refusal or an outage of the serverless GET through', async () => {
      // Prepare
      const refused = new DependencyFailedError('arm', 'arm refused the request (HTTP 403).', 403);
      const busy = new DependencyUnavailableError('arm', 'arm is unavailable (HTTP 429).');
      const failing = (error: Error) =>
        describerWith(
          () => Promise.reject(new Error('not expected')),
          () => Promise.reject(error),
        ).describer.describe(coords, 'serverlessEndpoint');

      // Act + Assess
      await expect(failing(refused)).rejects.toBe(refused);
      await expect(failing(busy)).rejects.toBe(busy);
    });
  });

  describe('Method: exists', () => {
    const endpoint = (provisioningState: string) => async () => ({
      properties: { authMode: 'Key', provisioningState },
    });

    it('says an online endpoint ARM returns exists, and one being deleted does not', async () => {
      // Act
      const live = await describerWith(endpoint('Succeeded')).describer.exists('onlineEndpoint', coords);
      const deleting = await describerWith(endpoint('Deleting')).describer.exists('onlineEndpoint', coords);

      // Assess
      expect([live, deleting]).toEqual([true, false]);
    });

    it('says an endpoint ARM answers 404 for (it, its workspace or its resource group is gone) does not exist', async () => {
      // Prepare
      const notFound = new RestError('not found', { statusCode: 404, code: 'ResourceNotFound' });
      const { describer, calls } = describerWith(
        () => Promise.reject(notFound),
        // As ArmServerlessKeyClient throws it: withRetries turns a definite answer into DependencyFailedError
        () => Promise.reject(new DependencyFailedError('arm', 'arm refused the request (HTTP 404).', 404)),
      );

      // Act
      const online = await describer.exists('onlineEndpoint', coords);
      const serverless = await describer.exists('serverlessEndpoint', coords);

      // Assess
      expect([online, serverless]).toEqual([false, false]);
      expect(calls).toEqual(['sub-1/rg/ws/e1', 'serverless ws/e1']);
    });

    it('reads a serverless endpoint with its own GET', async () => {
      // Prepare
      const { describer } = describerWith(endpoint('Succeeded'), async () => ({
        provisioningState: 'Succeeded',
      }));

      // Act + Assess
      expect(await describer.exists('serverlessEndpoint', coords)).toBe(true);
    });

    it('answers a refusal as DependencyFailedError, and lets an outage through for a retry', async () => {
      // Prepare
      const refused = new RestError('no role', { statusCode: 403, code: 'AuthorizationFailed' });
      const busy = new DependencyUnavailableError('arm', 'arm is unavailable (HTTP 429).');

      // Act
      const online = describerWith(() => Promise.reject(refused)).describer.exists('onlineEndpoint', coords);
      const serverless = describerWith(endpoint('Succeeded'), () => Promise.reject(busy)).describer.exists(
        'serverlessEndpoint',
        coords,
      );

      // Assess
      await expect(online).rejects.toBeInstanceOf(DependencyFailedError);
      await expect(serverless).rejects.toBe(busy);
    });
  });

  describe('Method: in the webhook', () => {
    it('acknowledges an event about an endpoint ARM refuses to describe as rejected, not as a 500 bug', async () => {
      // Prepare
      const refused = new RestError('The client does not have authorization', {
        statusCode: 403,
        code: 'AuthorizationFailed',
      });
      const t = buildTestEventsModule(
        { AUTO_REGISTER_ENABLED: 'true' },
        { describer: describerWith(() => Promise.reject(refused)).describer },
      );

      // Act
      const reply = await send(t.module, {
        body: fixture('events', 'arm-resource-write-success-online-endpoint.json'),
      });

      // Assess
      expect(reply.status).toBe(200);
      expect(actions(reply)).toEqual(['rejected']);
      expect(t.telemetry.count('EventsRejected')).toBe(1);
    });
  });
});
