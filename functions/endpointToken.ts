import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import type { BrokerModule } from '../shared/broker/module';
import { withHttpErrors } from '../shared/http';
import { getServices } from '../shared/services';

/** Resolves the broker inside the invocation (tests pass one built over fakes). */
export type EndpointTokenResolver = () => Pick<BrokerModule, 'amlToken'>;

const defaultResolver: EndpointTokenResolver = () => getServices().broker;

/**
 * `POST /api/endpoints/{id}/token` (anonymous; Basic or `X-IDENTITY-HEADER` client authentication): the
 * Azure ML endpoint token shape (`accessToken`, `tokenType`, `expiryTimeUtc`, `refreshAfterTimeUtc`).
 */
export function endpointTokenHandler(resolve: EndpointTokenResolver = defaultResolver) {
  return withHttpErrors(async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> =>
    resolve().amlToken.handle(request, context.invocationId),
  );
}

app.http('endpointToken', {
  route: 'endpoints/{id}/token',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: endpointTokenHandler(),
});
