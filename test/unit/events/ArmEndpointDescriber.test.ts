import { RestError } from '@azure/core-rest-pipeline';

import { DependencyFailedError } from '../../../shared/errors';
import { ArmEndpointDescriber, type OnlineEndpointsGetter } from '../../../shared/events/EndpointDescriber';
import { buildTestEventsModule } from '../../fakes/events/buildTestEventsModule';
import { actions, fixture, send } from './webhookTestKit';

const coords = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws', name: 'e1' };

function describerWith(get: OnlineEndpointsGetter['get']) {
  const calls: string[] = [];
  const describer = new ArmEndpointDescriber({
    onlineEndpoints: (sub) => ({
      get: (rg, ws, name) => (calls.push(`${sub}/${rg}/${ws}/${name}`), get(rg, ws, name)),
    }),
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
