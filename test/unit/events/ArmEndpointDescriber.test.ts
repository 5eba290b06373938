import { ArmEndpointDescriber, type OnlineEndpointsGetter } from '../../../shared/events/EndpointDescriber';

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
  });
});
