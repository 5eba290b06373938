import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';

import { eventGridWebhookHandler } from '../../functions/eventGridWebhook';
import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { RunningEmulators } from '../../local/emulators';
import { loadConfig } from '../../shared/config';
import { Services } from '../../shared/services';
import { type TestClient, testClientOf } from '../fakes/broker/buildTestBroker';
import { standInSettings, useEmulatorIdentity, withEmulators } from '../support/emulators';
import { basicAuth, jsonOf } from '../support/httpParts';

/**
 * A token endpoint registered by hand, deleted and re-created in Azure, through the real webhook, registry
 * (Azurite), ARM (the stand-in) and broker of one app instance. Needs NODE_EXTRA_CA_CERTS (set by the runner).
 */
const SUB = '00000000-0000-0000-0000-0000000000e7';
const WS = { subscriptionId: SUB, resourceGroup: 'rg-reinstate', workspace: 'ws-reinstate' };
const resourceId = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${WS.resourceGroup}/providers/Microsoft.MachineLearningServices/workspaces/${WS.workspace}/onlineEndpoints/${name}`;

jest.setTimeout(60_000);

describe('Events: a token endpoint deleted and re-created in Azure (local stack)', () => {
  let emulators: RunningEmulators;
  let azurite: RunningAzurite;
  let services: Services;
  let client: TestClient;
  let restoreEnv: () => void = () => undefined;
  let sent = 0;

  beforeAll(async () => {
    [emulators, azurite] = await Promise.all([withEmulators(), startAzurite()]);
    restoreEnv = useEmulatorIdentity(emulators);
    emulators.control.addWorkspace(WS);
    emulators.control.addOnlineEndpoint({ ...WS, name: 'it-token', authMode: 'AMLToken' });
    emulators.control.addOnlineEndpoint({ ...WS, name: 'it-aad', authMode: 'AADToken' });
    services = new Services(
      loadConfig({ ...standInSettings(emulators, azurite, 'rin'), AUTO_REGISTER_ENABLED: 'true' }),
    );
    for (const [id, authMode] of [
      ['it-token', 'AMLToken'],
      ['it-aad', 'AADToken'],
    ] as const)
      await services.rotation.admin.register({ id, authMode, arm: { ...WS, name: id } });
    client = testClientOf(
      await services.broker.admin.create({
        id: 'it-reinstate-client',
        displayName: 'Reinstatement client',
        allowedScopes: ['it-token', 'it-aad'],
      }),
    );
  });

  afterAll(async () => {
    await services?.close();
    await Promise.all([emulators?.stop(), azurite?.stop()]);
    restoreEnv();
  });

  /** A client's token request for endpoint `id`, through the broker of the instance the webhook runs on. */
  const tokenFor = (id: string): Promise<HttpResponseInit> =>
    services.broker.amlToken.handle(
      new HttpRequest({
        method: 'POST',
        url: `http://l/api/endpoints/${id}/token`,
        params: { id },
        headers: { authorization: basicAuth(client.id, client.primary) },
      }),
      'it',
    );

  /** Delivers ARM events (Event Grid schema) to the webhook as Event Grid would; the per-event actions. */
  async function deliver(type: 'Write' | 'Delete', names: string[]): Promise<unknown[]> {
    const body = names.map((name) => ({
      id: `it-${type}-${name}-${++sent}`,
      topic: `/subscriptions/${SUB}`,
      subject: resourceId(name),
      eventType: `Microsoft.Resources.Resource${type}Success`,
      eventTime: new Date().toISOString(),
      data: {
        resourceUri: resourceId(name),
        operationName: `Microsoft.MachineLearningServices/workspaces/onlineEndpoints/${type.toLowerCase()}`,
      },
      dataVersion: '2',
    }));
    const reply = await eventGridWebhookHandler(() => services.events)(
      new HttpRequest({
        method: 'POST',
        url: 'http://localhost:7071/api/events?code=k',
        headers: { 'content-type': 'application/json' },
        body: { string: JSON.stringify(body) },
      }),
      new InvocationContext({ invocationId: 'it' }),
    );
    expect(reply.status).toBe(200);
    return (
      (reply.jsonBody as { results: unknown[] }).results as Array<{ action: string; endpointId?: string }>
    ).map((r) => [r.endpointId, r.action]);
  }

  it('serves the endpoint again once re-created with its auth mode, and keeps refusing one re-created with another', async () => {
    // Prepare: both served, then deleted in Azure and retired by their deletes; refused meanwhile (the
    // refusal is what the broker's lookup caches for 30 s)
    const before = await Promise.all([tokenFor('it-token'), tokenFor('it-aad')]);
    emulators.control.deleteEndpoint({ ...WS, name: 'it-token' });
    emulators.control.deleteEndpoint({ ...WS, name: 'it-aad' });
    const retired = await deliver('Delete', ['it-token', 'it-aad']);
    const whileRetired = await Promise.all([tokenFor('it-token'), tokenFor('it-aad')]);
    const { scoringUri } = emulators.control.addOnlineEndpoint({
      ...WS,
      name: 'it-token',
      authMode: 'AMLToken',
    });
    emulators.control.addOnlineEndpoint({ ...WS, name: 'it-aad', authMode: 'AMLToken' });

    // Act: the re-creations' writes
    const written = await deliver('Write', ['it-token', 'it-aad']);
    const after = await Promise.all([tokenFor('it-token'), tokenFor('it-aad')]);
    const scored = await fetch(scoringUri, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${String(jsonOf(after[0])['accessToken'])}`,
        'content-type': 'application/json',
      },
      body: '{"data":[[1,2]]}',
    });

    // Assess: served at once on this instance (its cached refusal dropped), with a token the new endpoint
    // takes; the one whose auth mode changed stays retired and refused
    expect(before.map((r) => r.status)).toEqual([200, 200]);
    expect(retired).toEqual([
      ['it-token', 'retired'],
      ['it-aad', 'retired'],
    ]);
    expect(whileRetired.map((r) => r.status)).toEqual([403, 403]);
    expect(written).toEqual([
      ['it-token', 'reinstated'],
      ['it-aad', 'authModeChanged'],
    ]);
    expect(after.map((r) => r.status)).toEqual([200, 403]);
    expect(scored.status).toBe(200);
    const registry = services.rotation.registry;
    expect((await registry.get('it-token'))?.retiredAt).toBeUndefined();
    expect((await registry.get('it-token'))?.reinstatedAt).toEqual(expect.any(String));
    expect((await registry.get('it-aad'))?.retiredAt).toEqual(expect.any(String));
  });
});
