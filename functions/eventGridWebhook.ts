import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import type { EventsModule } from '../shared/events/module';
import { MAX_DELIVERY_BYTES } from '../shared/events/parseDelivery';
import { readBodyText, withHttpErrors } from '../shared/http';
import { getServices } from '../shared/services';

/** Resolves the events module inside the invocation (tests pass one built over fakes). */
export type EventsResolver = () => Pick<EventsModule, 'webhook'>;

const defaultResolver: EventsResolver = () => getServices().events;

/**
 * `POST|OPTIONS /api/events` (function key; Event Grid subscriptions pass `?code=`): the Event Grid and
 * CloudEvents webhook. An HTTP trigger rather than `app.eventGrid` on purpose: it answers both
 * handshakes itself (validation code, CloudEvents OPTIONS) and picks the status per outcome, 4xx for a
 * malformed delivery (Event Grid dead-letters, no retry) vs 503 for a transient failure (Event Grid
 * retries with backoff), which the Event Grid trigger binding does not let us control.
 */
export function eventGridWebhookHandler(resolve: EventsResolver = defaultResolver) {
  return withHttpErrors(
    async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      const { webhook } = resolve();
      const header = (name: string) => request.headers.get(name);
      const reply =
        request.method === 'OPTIONS'
          ? webhook.handshake({ header })
          : await webhook.deliver({ header, body: await readBodyText(request, MAX_DELIVERY_BYTES) });
      return {
        status: reply.status,
        headers: { 'cache-control': 'no-store', ...reply.headers },
        ...(reply.jsonBody !== undefined ? { jsonBody: reply.jsonBody } : {}),
      };
    },
  );
}

app.http('eventGridWebhook', {
  route: 'events',
  methods: ['POST', 'OPTIONS'],
  authLevel: 'function',
  handler: eventGridWebhookHandler(),
});
