import type { HttpRequest, HttpResponseInit } from '@azure/functions';

import type { Clock } from '../clock';
import { ENDPOINT_ID_RULE } from '../endpoints/validateEndpoint';
import { AppError, DependencyUnavailableError } from '../errors';
import { problem } from '../http';
import type { Logger } from '../logging';
import { errorName } from '../networkErrors';
import {
  namedClientId,
  parseBasicAuthorization,
  parseIdentityHeader,
  presentedSecrets,
} from './clientCredentials';
import { InvalidClientError, InvalidTokenRequestError, MalformedScopeError } from './errors';
import { basicChallenge, clientMessage } from './protocolReplies';
import type { TokenBroker } from './TokenBroker';
import { DEFINITE_FAILURE_RETRY_MS } from './TokenCache';

/** Options of {@link AmlTokenProtocol}. */
export interface AmlTokenProtocolOptions {
  broker: TokenBroker;
  clock: Clock;
  logger: Logger;
  /** Realm named in `WWW-Authenticate`. @default 'aml-credential-broker' */
  realm?: string;
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
} as const;
/**
 * How far ahead `refreshAfterTimeUtc` lies when the broker's own refresh time has passed (its refresh
 * is running, or the upstream fails and the cached token is served meanwhile): a time already past
 * would have every client that follows the hint ask again on each call, spending its rate limit on the
 * broker through an outage. As long as the broker itself rests after a definite upstream failure.
 */
const DUE_REFRESH_AFTER_MS = DEFINITE_FAILURE_RETRY_MS;

/**
 * The detail of a 400 `ScopeMalformed`: the broker's own message names resource URIs as well, which
 * this route does not take.
 */
const MALFORMED_ID_DETAIL = `The id is not a valid endpoint id: ${ENDPOINT_ID_RULE}.`;

/**
 * The client id a refused request names: from the first of Basic and the identity header that parses (a
 * malformed Basic value names none), else `client_id`.
 */
function presentedClientId(request: HttpRequest): string {
  const clientIdParam = request.query.get('client_id');
  return (
    namedClientId(() => parseBasicAuthorization(request.headers.get('authorization'))) ??
    namedClientId(() => parseIdentityHeader(request.headers.get('x-identity-header'), clientIdParam)) ??
    clientIdParam ??
    ''
  );
}

/**
 * `POST /api/endpoints/{id}/token`: the Azure ML endpoint token shape (ARM's
 * `EndpointAuthToken`), a drop-in for code that called ARM's `…/token` or `get_token()`:
 * `{ accessToken, tokenType: 'Bearer', expiryTimeUtc, refreshAfterTimeUtc }`, times in epoch seconds.
 * `refreshAfterTimeUtc` is when the broker itself will have a fresher token; never in the past (once
 * that time has passed, 30 s from now), never after `expiryTimeUtc`.
 *
 * Client authentication: `Authorization: Basic` (id and secret form-urlencoded as in OAuth), or
 * `X-IDENTITY-HEADER: <secret>` with `?client_id=` (or `<clientId>:<secret>` in the header). Errors are
 * problem details; 401 (also for a malformed Basic value) carries `WWW-Authenticate: Basic`; an `{id}`
 * that is no endpoint id (a resource URI included) is a 400 `ScopeMalformed` (checked after
 * authentication; its detail names the endpoint id rule), a well-formed one the
 * client may not use a 403 `ScopeNotAllowed`, registered or not (the route has no 404); 429 and 503
 * carry `Retry-After`; a 503 names the upstream and its failure class. The request body is ignored.
 */
export class AmlTokenProtocol {
  private readonly wwwAuthenticate: string;

  constructor(private readonly options: AmlTokenProtocolOptions) {
    this.wwwAuthenticate = basicChallenge(options.realm);
  }

  /**
   * Answers one token request; never throws.
   * @param correlationId - the invocation id, used as the problem's `instance`
   */
  async handle(request: HttpRequest, correlationId: string): Promise<HttpResponseInit> {
    const endpointId = request.params['id'] ?? '';
    let vending = false;
    try {
      const basic = parseBasicAuthorization(request.headers.get('authorization'));
      const identity = parseIdentityHeader(
        request.headers.get('x-identity-header'),
        request.query.get('client_id'),
      );
      if (basic && identity) {
        throw new InvalidTokenRequestError('Use one client authentication method, not both.');
      }
      const credentials = basic ?? identity;
      if (!credentials) throw new InvalidClientError('Client authentication is required.');
      vending = true;
      // Route ids are endpoint ids only; anything else fails the endpoint-id syntax in the broker. One
      // with a colon could parse as a resource URI, so it goes as '' (refused as malformed), and the
      // broker audits the id as it was sent in its place.
      const colon = endpointId.includes(':');
      const { token } = await this.options.broker.vend(
        {
          protocol: 'amlToken',
          clientId: credentials.clientId,
          secret: credentials.secret,
          scope: colon ? '' : endpointId,
        },
        colon ? endpointId : undefined,
      );
      const now = this.options.clock.now();
      const refreshAfterMs =
        token.refreshAtMs > now ? token.refreshAtMs : Math.min(now + DUE_REFRESH_AFTER_MS, token.expiresOnMs);
      return {
        status: 200,
        headers: JSON_HEADERS,
        body: `{"accessToken":${token.valueJson},"tokenType":"Bearer","expiryTimeUtc":${Math.floor(token.expiresOnMs / 1000)},"refreshAfterTimeUtc":${Math.floor(refreshAfterMs / 1000)}}`,
      };
    } catch (error) {
      // The broker audits its own refusals; one made here, before it, is audited with what was presented.
      if (!vending) {
        await this.options.broker.refused(
          {
            protocol: 'amlToken',
            clientId: presentedClientId(request),
            scope: endpointId,
            secrets: presentedSecrets(
              request.headers.get('authorization'),
              request.headers.get('x-identity-header'),
            ),
          },
          error,
        );
      }
      return this.errorResponse(error, correlationId);
    }
  }

  private errorResponse(error: unknown, correlationId: string): HttpResponseInit {
    if (
      !(error instanceof AppError) ||
      (error.status >= 500 && !(error instanceof DependencyUnavailableError))
    ) {
      this.options.logger.error('token => unexpected error', {
        error: errorName(error),
      });
      return problem(500, 'InternalError', clientMessage(error), correlationId, {});
    }
    const detail = error instanceof MalformedScopeError ? MALFORMED_ID_DETAIL : clientMessage(error);
    const response = problem(error.status, error.code, detail, correlationId, {
      retryAfterSeconds: error.retryAfterSeconds,
    });
    if (error.status === 401) {
      (response.headers as Record<string, string>)['www-authenticate'] = this.wwwAuthenticate;
    }
    return response;
  }
}
