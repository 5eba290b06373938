import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import type { BrokerModule } from '../shared/broker/module';
import { withHttpErrors } from '../shared/http';
import { getServices } from '../shared/services';

/** Resolves the broker inside the invocation (tests pass one built over fakes). */
export type OAuthTokenResolver = () => Pick<BrokerModule, 'oauth'>;

const defaultResolver: OAuthTokenResolver = () => getServices().broker;

/**
 * `POST /api/oauth2/token` (anonymous; the client authenticates with its broker secret): the OAuth 2.0
 * client credentials grant. RFC 6749 success and error bodies come from the protocol module.
 */
export function oauthTokenHandler(resolve: OAuthTokenResolver = defaultResolver) {
  // Not async: withHttpErrors awaits the answer anyway (and catches a throw), so a wrapper promise here would
  // only add microtask turns to every token request.
  return withHttpErrors((request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> =>
    resolve().oauth.handle(request),
  );
}

app.http('oauthToken', {
  route: 'oauth2/token',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: oauthTokenHandler(),
});
