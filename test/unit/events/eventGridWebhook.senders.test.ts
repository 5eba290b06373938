import type {
  CloudEvent as AzureCloudEvent,
  EventGridEvent,
  KeyVaultSecretExpiredEventData,
  KeyVaultSecretNearExpiryEventData,
} from '@azure/eventgrid';
import { CloudEvent, HTTP } from 'cloudevents';

import { actions, managedDemo, send } from './webhookTestKit';

const SOURCE = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/sample-kv';
const nearExpiryData: KeyVaultSecretNearExpiryEventData = {
  id: 'https://sample-kv.vault.azure.net/secrets/demo-key/v1',
  vaultName: 'sample-kv',
  objectType: 'Secret',
  objectName: 'demo-key',
  version: 'v1',
  nbf: 1763859600,
  exp: 1766451600,
};

function asStrings(headers: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]));
}

describe('Function: eventGridWebhook', () => {
  describe('Method: events from the cloudevents SDK', () => {
    it('accepts a structured-mode CloudEvent', async () => {
      // Prepare
      const t = managedDemo();
      const event = new CloudEvent({
        type: 'Microsoft.KeyVault.SecretNearExpiry',
        source: SOURCE,
        subject: 'demo-key',
        data: nearExpiryData,
      });
      const message = HTTP.structured(event);

      // Act
      const reply = await send(t.module, { body: String(message.body), headers: asStrings(message.headers) });

      // Assess
      expect(reply.status).toBe(200);
      expect(actions(reply)).toEqual(['rotationEnqueued']);
    });

    it('accepts a binary-mode CloudEvent (ce-* headers, body = data)', async () => {
      // Prepare
      const t = managedDemo();
      const event = new CloudEvent({
        type: 'Microsoft.KeyVault.SecretExpired',
        source: SOURCE,
        subject: 'demo-key',
        datacontenttype: 'application/json',
        data: { ...nearExpiryData } satisfies KeyVaultSecretExpiredEventData,
      });
      const message = HTTP.binary(event);

      // Act
      const reply = await send(t.module, { body: String(message.body), headers: asStrings(message.headers) });

      // Assess
      expect(asStrings(message.headers)).toHaveProperty('ce-id');
      expect(actions(reply)).toEqual(['rotationEnqueued']);
      expect(t.rotation.enqueued[0]).toEqual(expect.objectContaining({ reason: 'expired', urgent: true }));
    });

    it('accepts a CloudEvents batch', async () => {
      // Prepare
      const t = managedDemo();
      const events = [
        new CloudEvent({
          type: 'Microsoft.KeyVault.SecretNearExpiry',
          source: SOURCE,
          subject: 'demo-key',
          data: nearExpiryData,
        }),
        new CloudEvent({ type: 'Contoso.Unrelated', source: '/contoso', data: { a: 1 } }),
      ];

      // Act
      const reply = await send(t.module, {
        body: JSON.stringify(events.map((e) => e.toJSON())),
        headers: { 'content-type': 'application/cloudevents-batch+json; charset=utf-8' },
      });

      // Assess
      expect(actions(reply)).toEqual(['rotationEnqueued', 'unknownType']);
    });

    it('rejects a binary-mode event without ce-id', async () => {
      // Prepare
      const t = managedDemo();
      const message = HTTP.binary(
        new CloudEvent({ type: 'Microsoft.KeyVault.SecretNearExpiry', source: SOURCE, data: nearExpiryData }),
      );
      const headers = asStrings(message.headers);
      delete headers['ce-id'];

      // Act
      const reply = await send(t.module, { body: String(message.body), headers });

      // Assess
      expect(reply.status).toBe(400);
      expect(reply.json()['detail']).toContain('ce-id: is required');
    });
  });

  describe('Method: events typed with @azure/eventgrid', () => {
    it('accepts EventGridEvent<KeyVaultSecretNearExpiryEventData> (camelCase data)', async () => {
      // Prepare
      const t = managedDemo();
      const event: EventGridEvent<KeyVaultSecretNearExpiryEventData> = {
        id: 'eg-1',
        eventType: 'Microsoft.KeyVault.SecretNearExpiry',
        eventTime: new Date('2026-11-23T01:00:00Z'),
        topic: SOURCE,
        subject: 'demo-key',
        dataVersion: '1',
        data: nearExpiryData,
      };

      // Act
      const reply = await send(t.module, { body: JSON.stringify([event]) });

      // Assess
      expect(actions(reply)).toEqual(['rotationEnqueued']);
    });

    it('accepts CloudEvent<KeyVaultSecretExpiredEventData> in the wire form the SDK serializes', async () => {
      // Prepare
      const t = managedDemo();
      const event: AzureCloudEvent<KeyVaultSecretExpiredEventData> = {
        id: 'ce-1',
        type: 'Microsoft.KeyVault.SecretExpired',
        source: SOURCE,
        subject: 'demo-key',
        time: new Date('2026-11-23T01:30:00Z'),
        datacontenttype: 'application/json',
        data: nearExpiryData,
      };

      // Act
      const reply = await send(t.module, {
        body: JSON.stringify([{ ...event, specversion: '1.0' }]),
        headers: { 'content-type': 'application/cloudevents-batch+json; charset=utf-8' },
      });

      // Assess
      expect(actions(reply)).toEqual(['rotationEnqueued']);
    });
  });
});
