import { buildTestEventsModule } from '../../fakes/events/buildTestEventsModule';
import { fixture, send } from './webhookTestKit';

describe('Function: eventGridWebhook', () => {
  describe('Method: handshakes', () => {
    it('answers the Event Grid subscription validation event with the validation code', async () => {
      // Prepare
      const { module, rotation } = buildTestEventsModule();

      // Act
      const reply = await send(module, {
        body: fixture('events', 'subscription-validation-eventgrid.json'),
        headers: { 'aeg-event-type': 'SubscriptionValidation' },
      });

      // Assess
      expect(reply.status).toBe(200);
      expect(reply.json()).toEqual({ validationResponse: '512d38b6-c7b8-40c8-89fe-f46f9e9622b6' });
      expect(rotation.enqueued).toHaveLength(0);
    });

    it('grants the CloudEvents abuse-protection OPTIONS request for the requesting origin', async () => {
      // Prepare
      const { module } = buildTestEventsModule();

      // Act
      const reply = await send(module, {
        method: 'OPTIONS',
        headers: { 'WebHook-Request-Origin': 'eventgrid.azure.net', 'WebHook-Request-Rate': '120' },
      });

      // Assess
      expect(reply.status).toBe(200);
      expect(reply.headers).toEqual(
        expect.objectContaining({
          'webhook-allowed-origin': 'eventgrid.azure.net',
          'webhook-allowed-rate': '*',
          allow: 'POST, OPTIONS',
        }),
      );
    });

    it('refuses an OPTIONS request without WebHook-Request-Origin', async () => {
      // Prepare
      const { module } = buildTestEventsModule();

      // Act
      const reply = await send(module, { method: 'OPTIONS' });

      // Assess
      expect(reply.status).toBe(400);
      expect(reply.headers).not.toHaveProperty('webhook-allowed-origin');
      expect((reply.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
      expect(reply.json()).toMatchObject({
        code: 'ValidationFailed',
        errors: [{ field: 'WebHook-Request-Origin' }],
      });
    });
  });
});
