import { buildTestEventsModule } from '../../fakes/events/buildTestEventsModule';
import { actions, CREDIT_SCORE_REGISTRATION, fixture, send } from './webhookTestKit';

const KV_VERSION = 'ee059b2bb5bc48398a53b168c6cdcb10';
const CE = { 'content-type': 'application/cloudevents+json; charset=utf-8' };
const schemas = [
  ['eventgrid', {}],
  ['cloudevents', CE],
] as const;

/** The fixtures' online endpoint, auto-registered from its ResourceWriteSuccess, then gone at ARM. */
async function registeredFromItsWriteThenGone() {
  const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true' });
  t.describer.add('ml-ws', 'credit-score', {
    authMode: 'Key',
    tags: { 'aml-credential-broker': 'rotate' },
  });
  await send(t.module, { body: fixture('events', 'arm-resource-write-success-online-endpoint.json') });
  t.describer.remove('ml-ws', 'credit-score');
  return t;
}

describe('Function: eventGridWebhook', () => {
  describe('Method: recorded Azure samples (test/fixtures/azure/eventgrid)', () => {
    it.each(schemas)(
      'runs a drift check for SecretNewVersionCreated (%s schema) on a managed secret we did not write, and alerts on mismatch',
      async (schema, headers) => {
        // Prepare
        const t = buildTestEventsModule();
        t.rotation.addEndpoint({ id: 'sample', secretName: 'newsecret' });
        t.rotation.setCurrent('newsecret', KV_VERSION, { owner: 'a-human' });
        t.rotation.driftReport = { status: 'drift' };

        // Act
        const reply = await send(t.module, {
          body: fixture(
            'azure/eventgrid',
            `keyvault-secret-new-version-created-${schema}-schema-restspec-example.json`,
          ),
          headers,
        });

        // Assess
        expect(reply.status).toBe(200);
        expect(actions(reply)).toEqual(['driftDetected']);
        expect(t.rotation.driftChecks).toEqual(['sample']);
        expect(t.keysReplaced).toEqual(['sample']);
        expect(t.rotation.enqueued).toHaveLength(0);
        expect(t.sink.events).toEqual([
          expect.objectContaining({ type: 'DriftDetected', endpointId: 'sample', secretVersion: KV_VERSION }),
        ]);
      },
    );

    it('skips the drift check when the new version carries our rotationId tag', async () => {
      // Prepare
      const t = buildTestEventsModule();
      t.rotation.addEndpoint({ id: 'sample', secretName: 'newsecret' });
      t.rotation.setCurrent('newsecret', KV_VERSION, { rotationId: 'r-1', slot: 'Secondary' });

      // Act
      const reply = await send(t.module, {
        body: fixture(
          'azure/eventgrid',
          'keyvault-secret-new-version-created-eventgrid-schema-restspec-example.json',
        ),
      });

      // Assess
      expect(actions(reply)).toEqual(['ownWrite']);
      expect(t.rotation.driftChecks).toHaveLength(0);
      expect(t.keysReplaced).toHaveLength(0);
    });

    it('reports in sync when the external write matches an endpoint key, publishing nothing', async () => {
      // Prepare
      const t = buildTestEventsModule();
      t.rotation.addEndpoint({ id: 'sample', secretName: 'newsecret' });
      t.rotation.setCurrent('newsecret', KV_VERSION);

      // Act
      const reply = await send(t.module, {
        body: fixture(
          'azure/eventgrid',
          'keyvault-secret-new-version-created-eventgrid-schema-restspec-example.json',
        ),
      });

      // Assess: the broker still drops its copy: the key a person replaced may already be gone.
      expect(actions(reply)).toEqual(['inSync']);
      expect(t.sink.events).toHaveLength(0);
      expect(t.keysReplaced).toEqual(['sample']);
    });

    it.each(schemas)(
      'registers a Key endpoint from ModelDeployed (%s schema) when auto-registration is on',
      async (schema, headers) => {
        // Prepare
        const t = buildTestEventsModule({
          AUTO_REGISTER_ENABLED: 'true',
          AUTO_REGISTER_TAG: 'area=diabetes',
        });
        // The tag is the endpoint's at ARM: the sample's own ServiceTags (area=diabetes) opt nothing in.
        t.describer.add('{workspace-name}', 'my-sklearn-service', {
          authMode: 'Key',
          tags: { area: 'diabetes' },
        });

        // Act
        const reply = await send(t.module, {
          body: fixture('azure/eventgrid', `ml-model-deployed-${schema}-schema-restspec-example.json`),
          headers,
        });

        // Assess
        expect(actions(reply)).toEqual(['registered']);
        expect(t.rotation.registered).toEqual([
          expect.objectContaining({
            kind: 'onlineEndpoint',
            authMode: 'Key',
            arm: expect.objectContaining({
              workspace: '{workspace-name}',
              name: 'my-sklearn-service',
            }) as unknown,
          }),
        ]);
      },
    );

    it('acknowledges ModelDeployed without registering when auto-registration is off (the default)', async () => {
      // Prepare
      const t = buildTestEventsModule();

      // Act
      const reply = await send(t.module, {
        body: fixture('azure/eventgrid', 'ml-model-deployed-eventgrid-schema-restspec-example.json'),
      });

      // Assess
      expect(actions(reply)).toEqual(['autoRegisterDisabled']);
      expect(t.rotation.registered).toHaveLength(0);
    });

    it.each(schemas)(
      'acknowledges and counts ModelRegistered (%s schema) as an unhandled type',
      async (schema, headers) => {
        // Prepare
        const t = buildTestEventsModule();

        // Act
        const reply = await send(t.module, {
          body: fixture('azure/eventgrid', `ml-model-registered-${schema}-schema-restspec-example.json`),
          headers,
        });

        // Assess
        expect(reply.status).toBe(200);
        expect(actions(reply)).toEqual(['unknownType']);
        expect(t.telemetry.count('EventsUnknownType')).toBe(1);
      },
    );
  });

  describe('Method: Key Vault expiry samples (test/fixtures/events)', () => {
    it.each([
      ['keyvault-secret-near-expiry-eventgrid-pascal-numbers.json', {}, 'nearExpiry', undefined],
      ['keyvault-secret-near-expiry-cloudevents-camel-strings.json', CE, 'nearExpiry', undefined],
      ['keyvault-secret-expired-eventgrid-null-times-stray-spaces.json', {}, 'expired', true],
      ['keyvault-secret-expired-cloudevents-pascal-strings.json', CE, 'expired', true],
    ] as const)('%s (headers %j) enqueues a %s rotation', async (name, headers, reason, urgent) => {
      // Prepare
      const t = buildTestEventsModule();
      t.rotation.addEndpoint({ id: 'demo', secretName: 'demo-key' });
      t.rotation.setCurrent('demo-key', 'v1', { rotationId: 'r-0' });

      // Act
      const reply = await send(t.module, { body: fixture('events', name), headers });

      // Assess
      expect(actions(reply)).toEqual(['rotationEnqueued']);
      expect(t.rotation.enqueued).toEqual([
        {
          endpointId: 'demo',
          reason,
          ...(urgent ? { urgent } : {}),
          requestedAt: '2026-11-23T02:00:00.000Z',
        },
      ]);
      if (reason === 'expired')
        expect(t.logs.some((l) => l.startsWith('error KeyVaultEvents => expired'))).toBe(true);
    });

    it('acknowledges and ignores an expiry event about a version that is no longer current', async () => {
      // Prepare
      const t = buildTestEventsModule();
      t.rotation.addEndpoint({ id: 'demo', secretName: 'demo-key' });
      t.rotation.setCurrent('demo-key', 'v2', { rotationId: 'r-1' });

      // Act
      const reply = await send(t.module, {
        body: fixture('events', 'keyvault-secret-near-expiry-eventgrid-pascal-numbers.json'),
      });

      // Assess
      expect(actions(reply)).toEqual(['staleVersion']);
      expect(t.rotation.enqueued).toHaveLength(0);
    });

    it('acknowledges an expiry event for a secret the registry does not manage', async () => {
      // Prepare
      const t = buildTestEventsModule();

      // Act
      const reply = await send(t.module, {
        body: fixture('events', 'keyvault-secret-near-expiry-eventgrid-pascal-numbers.json'),
      });

      // Assess
      expect(actions(reply)).toEqual(['notManaged']);
    });
  });

  describe("Method: events about another vault than KEY_VAULT_URL's", () => {
    const fromVault = (name: string, vaultName: string): string => {
      const [event] = JSON.parse(fixture('events', name)) as Array<{ data: Record<string, unknown> }>;
      return JSON.stringify([{ ...event, data: { ...event?.data, VaultName: vaultName } }]);
    };

    it('acknowledges an expiry event about a same-named secret in another vault as not ours', async () => {
      // Prepare: a subscription on another vault (or a copy of one) delivers here; demo-key is managed
      const t = buildTestEventsModule();
      t.rotation.addEndpoint({ id: 'demo', secretName: 'demo-key' });
      t.rotation.setCurrent('demo-key', 'v1', { rotationId: 'r-0' });

      // Act
      const reply = await send(t.module, {
        body: fromVault('keyvault-secret-expired-eventgrid-null-times-stray-spaces.json', 'other-kv'),
      });

      // Assess
      expect(actions(reply)).toEqual(['notManaged']);
      expect(t.rotation.enqueued).toHaveLength(0);
      expect(t.logs.some((l) => l.includes('another vault') && l.includes('other-kv'))).toBe(true);
    });

    it('runs no drift check for a new version of a same-named secret in another vault', async () => {
      // Prepare
      const t = buildTestEventsModule();
      t.rotation.addEndpoint({ id: 'sample', secretName: 'newsecret' });
      t.rotation.setCurrent('newsecret', KV_VERSION, { owner: 'a-human' });
      t.rotation.driftReport = { status: 'drift' };
      const event = JSON.parse(
        fixture(
          'azure/eventgrid',
          'keyvault-secret-new-version-created-eventgrid-schema-restspec-example.json',
        ),
      ) as { data: Record<string, unknown> };

      // Act
      const reply = await send(t.module, {
        body: JSON.stringify([{ ...event, data: { ...event.data, VaultName: 'other-kv' } }]),
      });

      // Assess: the broker keeps its key, nothing is compared or published
      expect(actions(reply)).toEqual(['notManaged']);
      expect(t.rotation.driftChecks).toHaveLength(0);
      expect(t.keysReplaced).toHaveLength(0);
      expect(t.sink.events).toHaveLength(0);
    });

    it('compares vault names regardless of case', async () => {
      // Prepare
      const t = buildTestEventsModule();
      t.rotation.addEndpoint({ id: 'demo', secretName: 'demo-key' });
      t.rotation.setCurrent('demo-key', 'v1', { rotationId: 'r-0' });

      // Act
      const reply = await send(t.module, {
        body: fromVault('keyvault-secret-near-expiry-eventgrid-pascal-numbers.json', 'SAMPLE-KV'),
      });

      // Assess
      expect(actions(reply)).toEqual(['rotationEnqueued']);
    });
  });

  describe('Method: ARM resource events (test/fixtures/events)', () => {
    it('registers a tagged Key online endpoint on ResourceWriteSuccess, then retires it on ResourceDeleteSuccess', async () => {
      // Prepare
      const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true' });
      t.describer.add('ml-ws', 'credit-score', {
        authMode: 'Key',
        tags: { 'aml-credential-broker': 'rotate' },
      });

      // Act
      const write = await send(t.module, {
        body: fixture('events', 'arm-resource-write-success-online-endpoint.json'),
      });
      t.describer.remove('ml-ws', 'credit-score');
      const remove = await send(t.module, {
        body: fixture('events', 'arm-resource-delete-success-online-endpoint.json'),
      });

      // Assess
      expect(actions(write)).toEqual(['registered']);
      expect(t.rotation.registered[0]).toEqual(
        expect.objectContaining({ id: 'ml-ws-credit-score', secretName: 'aml-ml-ws-credit-score-key' }),
      );
      expect(actions(remove)).toEqual(['retired']);
      expect(t.rotation.retired).toEqual([{ id: 'ml-ws-credit-score', at: '2026-11-23T02:00:00.000Z' }]);
    });

    it('retires a serverless endpoint registered by hand on its ResourceDeleteSuccess', async () => {
      // Prepare
      const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true' });
      t.rotation.addEndpoint({
        id: 'phi-chat',
        kind: 'serverlessEndpoint',
        secretName: 'phi-chat-key',
        arm: {
          subscriptionId: '00000000-0000-0000-0000-000000000001',
          resourceGroup: 'ml-rg',
          workspace: 'ml-ws',
          name: 'phi-chat',
        },
      });

      // Act
      const remove = await send(t.module, {
        body: fixture('events', 'arm-resource-delete-success-serverless-endpoint.json'),
      });

      // Assess
      expect(actions(remove)).toEqual(['retired']);
      expect(t.rotation.retired).toEqual([{ id: 'phi-chat', at: '2026-11-23T02:00:00.000Z' }]);
    });

    it('retires the endpoints of a workspace on its ResourceDeleteSuccess', async () => {
      // Prepare: registered from its write; then the whole workspace is deleted
      const t = await registeredFromItsWriteThenGone();

      // Act
      const remove = await send(t.module, {
        body: fixture('events', 'arm-resource-delete-success-workspace.json'),
      });

      // Assess
      expect(actions(remove)).toEqual(['retired']);
      expect(t.rotation.retired).toEqual([{ id: 'ml-ws-credit-score', at: '2026-11-23T02:00:00.000Z' }]);
    });

    it('keeps in service an endpoint registered after a ResourceDeleteSuccess delivered late (by its eventTime)', async () => {
      // Prepare: the endpoint was deleted at 01:50 and re-created and registered at 01:52; Event Grid
      // delivers the old delete only now, after its retries
      const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true' });
      t.rotation.addEndpoint({ ...CREDIT_SCORE_REGISTRATION, createdAt: '2026-11-23T01:52:00.000Z' });

      // Act
      const endpoint = await send(t.module, {
        body: fixture('events', 'arm-resource-delete-success-online-endpoint.json'),
      });
      const group = await send(t.module, {
        body: fixture('events', 'arm-resource-delete-success-resource-group.json'),
      });

      // Assess: the group's delete (01:56) came after the registration, so it retires it
      expect(actions(endpoint)).toEqual(['staleDelete']);
      expect(actions(group)).toEqual(['retired']);
      expect(t.rotation.retired).toEqual([{ id: 'ml-ws-credit-score', at: '2026-11-23T02:00:00.000Z' }]);
    });

    it('retires the endpoints of a resource group on its ResourceDeleteSuccess', async () => {
      // Prepare: registered from its write; then the resource group holding its workspace is deleted
      const t = await registeredFromItsWriteThenGone();

      // Act
      const remove = await send(t.module, {
        body: fixture('events', 'arm-resource-delete-success-resource-group.json'),
      });

      // Assess
      expect(actions(remove)).toEqual(['retired']);
      expect(t.rotation.retired).toEqual([{ id: 'ml-ws-credit-score', at: '2026-11-23T02:00:00.000Z' }]);
    });
  });
});
