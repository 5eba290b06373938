import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import type { BrokerModule } from '../shared/broker/module';
import { withHttpErrors } from '../shared/http';
import { getServices } from '../shared/services';

/** Resolves the broker inside the invocation (tests pass one built over fakes). */
export type MsiTokenResolver = () => Pick<BrokerModule, 'msi'>;

const defaultResolver: MsiTokenResolver = () => getServices().broker;

/**
 * `GET /api/msi/token` (anonymous; the client's secret travels in `X-IDENTITY-HEADER`): the App Service
 * managed identity protocol, so unmodified `ManagedIdentityCredential`s can use the broker.
 */
export function msiTokenHandler(resolve: MsiTokenResolver = defaultResolver) {
  return withHttpErrors(async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> =>
    resolve().msi.handle(request, context.invocationId),
  );
}

app.http('msiToken', {
  route: 'msi/token',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: msiTokenHandler(),
});
