import type { HttpRequest, HttpResponseInit } from '@azure/functions';

import type { Clock } from '../clock';
import { AppError } from '../errors';
import type { Logger } from '../logging';
import { errorName } from '../networkErrors';
import { namedClientId, parseIdentityHeader, presentedSecrets } from './clientCredentials';
import { InvalidClientError } from './errors';
import { clientMessage } from './protocolReplies';
import type { TokenBroker } from './TokenBroker';

/** Options of {@link MsiTokenProtocol}. */
export interface MsiTokenProtocolOptions {
  broker: TokenBroker;
  clock: Clock;
  logger: Logger;
}

const API_VERSION = '2019-08-01';
const UNSUPPORTED_IDS = ['mi_res_id', 'object_id', 'principal_id'] as const;
const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
} as const;

/** A client mistake in the MSI protocol, answered with 400 in the App Service error shape. */
class MsiBadRequest extends AppError {
  readonly code = 'BadRequest';
  readonly status = 400;
}

/** The client id a refused request names: the identity header's when it parses, else `client_id`. */
function presentedClientId(request: HttpRequest): string {
  const clientIdParam = request.query.get('client_id');
  return (
    namedClientId(() => parseIdentityHeader(request.headers.get('x-identity-header'), clientIdParam)) ??
    clientIdParam ??
    ''
  );
}

/**
 * `GET /api/msi/token`: the App Service managed identity protocol (api-version 2019-08-01), so that an
 * unmodified `ManagedIdentityCredential` (any language) pointed at the broker with `IDENTITY_ENDPOINT`
 * and `IDENTITY_HEADER` gets broker tokens.
 *
 * - `X-IDENTITY-HEADER` carries the client secret; `client_id` names the client (user-assigned style,
 *   e.g. `AZURE_CLIENT_ID` with `DefaultAzureCredential`). Clients that send no `client_id`
 *   (system-assigned style) put `<clientId>:<secret>` in the header instead.
 * - `resource` is a resource URI (`https://ml.azure.com`) or an endpoint id (`getToken('<id>/.default')`
 *   sends `resource=<id>`); it is echoed exactly as sent, because MSAL caches under the echoed value.
 * - Success: `{ access_token, expires_on: "<epoch seconds>", resource, token_type: 'Bearer', client_id }`.
 * - Errors: App Service's shape `{ statusCode, message, correlationId }`: 400 bad request (a missing,
 *   malformed or multiple `resource` included), 401 bad credentials, 403 client or well-formed scope
 *   refused, 429 backoff or rate limit, 503 no upstream token, the last two with `Retry-After`. MSAL
 *   fails fast on 400/401/403 and retries 429/503.
 */
export class MsiTokenProtocol {
  constructor(private readonly options: MsiTokenProtocolOptions) {}

  /**
   * Answers one token request; never throws.
   * @param correlationId - the invocation id, echoed in error bodies
   */
  async handle(request: HttpRequest, correlationId: string): Promise<HttpResponseInit> {
    let vending = false;
    try {
      const query = request.query;
      if (query.get('api-version') !== API_VERSION) {
        throw new MsiBadRequest(`api-version must be ${API_VERSION}.`);
      }
      const resource = query.get('resource');
      if (!resource) throw new MsiBadRequest('The resource parameter is required.');
      for (const name of UNSUPPORTED_IDS) {
        if (query.has(name))
          throw new MsiBadRequest(`${name} is not supported; name the client with client_id.`);
      }
      const credentials = parseIdentityHeader(
        request.headers.get('x-identity-header'),
        query.get('client_id'),
      );
      if (!credentials) throw new InvalidClientError('The X-IDENTITY-HEADER header is required.');
      vending = true;
      const { token } = await this.options.broker.vend({
        protocol: 'msi',
        clientId: credentials.clientId,
        secret: credentials.secret,
        scope: resource,
      });
      return {
        status: 200,
        headers: JSON_HEADERS,
        body: `{"access_token":${token.valueJson},"expires_on":"${Math.floor(token.expiresOnMs / 1000)}","resource":${JSON.stringify(resource)},"token_type":"Bearer","client_id":${JSON.stringify(credentials.clientId)}}`,
      };
    } catch (error) {
      // The broker audits its own refusals; one made here, before it, is audited with what was presented.
      if (!vending) {
        const scope = request.query.get('resource') ?? '';
        await this.options.broker.refused(
          {
            protocol: 'msi',
            clientId: presentedClientId(request),
            scope,
            secrets: presentedSecrets(null, request.headers.get('x-identity-header')),
          },
          error,
        );
      }
      return this.errorResponse(error, correlationId);
    }
  }

  private errorResponse(error: unknown, correlationId: string): HttpResponseInit {
    // The errors of this protocol (see the class comment) have no 413: a request too large is a bad one.
    // A resource that does not parse is a 400 of its own (MalformedScopeError), found by the broker after
    // authentication on its cached parse, so the vend itself does no more work.
    let status = error instanceof AppError ? (error.status === 413 ? 400 : error.status) : 500;
    if (status >= 500 && status !== 503) {
      status = 500;
      this.options.logger.error('token => unexpected error', {
        error: errorName(error),
      });
    }
    const headers: Record<string, string> = { ...JSON_HEADERS };
    const retryAfter = error instanceof AppError ? error.retryAfterSeconds : undefined;
    if (retryAfter !== undefined) headers['retry-after'] = String(Math.ceil(retryAfter));
    return {
      status,
      headers,
      body: JSON.stringify({ statusCode: status, message: clientMessage(error), correlationId }),
    };
  }
}
