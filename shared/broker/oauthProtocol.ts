import type { HttpRequest, HttpResponseInit } from '@azure/functions';

import type { Clock } from '../clock';
import { AppError, DependencyUnavailableError, PayloadTooLargeError, RateLimitedError } from '../errors';
import { readBodyText } from '../http';
import type { Logger } from '../logging';
import { errorName } from '../networkErrors';
import { parseBasicAuthorization, type PresentedCredentials, presentedSecrets } from './clientCredentials';
import {
  ClientNotAuthorizedError,
  InvalidClientError,
  InvalidTokenRequestError,
  ScopeNotAllowedError,
  UnsupportedGrantTypeError,
} from './errors';
import { parseForm } from './formUrlEncoded';
import { basicChallenge, clientMessage } from './protocolReplies';
import { parseScope } from './scope';
import type { TokenBroker } from './TokenBroker';

/** Options of {@link OAuthTokenProtocol}. */
export interface OAuthTokenProtocolOptions {
  broker: TokenBroker;
  clock: Clock;
  logger: Logger;
  /** Realm named in `WWW-Authenticate`. @default 'aml-credential-broker' */
  realm?: string;
  /** Largest accepted form body. @default OAUTH_MAX_BODY_BYTES */
  maxBodyBytes?: number;
}

/** Largest OAuth form body accepted by default (a token request's form is well under 1 KiB). */
export const OAUTH_MAX_BODY_BYTES = 8192;

const FORM_TYPE = 'application/x-www-form-urlencoded';
const FORM = /^application\/x-www-form-urlencoded\s*(?:;|$)/i;
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;
/** The parameters this route reads: only these may not repeat; any other is ignored (RFC 6749 §3.2). */
const PARAMETERS: ReadonlySet<string> = new Set(['grant_type', 'scope', 'client_id', 'client_secret']);

/** Refuses a body that is not a form, before reading it. */
function requireForm(request: HttpRequest): void {
  const contentType = request.headers.get('content-type') ?? '';
  // The exact type, which every client sends, skips the regular expression.
  if (contentType !== FORM_TYPE && !FORM.test(contentType)) {
    throw new InvalidTokenRequestError('The body must be application/x-www-form-urlencoded.');
  }
}

/**
 * The one token the request asks for: `scope`, or when there is none `resource` (RFC 8707; what clients
 * written for Azure AD's v1 endpoint send instead). Ignoring a `resource` would hand such a client the token
 * of its only allowed scope whatever it asked for, so one that names another token than `scope` is refused.
 * RFC 8707 lets `resource` repeat; every token has one audience, so the first is the one asked for (the
 * answer's `scope` names it). `undefined` (neither, or only blank values) leaves the choice to the client's
 * default.
 */
function requestedScope(form: Map<string, string>): string | undefined {
  // parseForm left out empty values; blank ones count as omitted too.
  const scope = form.get('scope')?.trim() || undefined;
  const resource = form.get('resource')?.trim() || undefined;
  if (resource === undefined || resource === scope) return scope;
  if (scope === undefined) return resource;
  // A scope that does not parse is refused as such (invalid_scope) by the broker.
  const parsed = parseScope(scope);
  if (parsed !== undefined && parsed.value !== parseScope(resource)?.value) {
    throw new InvalidTokenRequestError('scope and resource name different tokens; send one of them.');
  }
  return scope;
}

/** The client id a refused request names: Basic's when it parses (a malformed one names none), else the form's. */
function presentedClientId(request: HttpRequest, form: Map<string, string> | undefined): string {
  try {
    const basic = parseBasicAuthorization(request.headers.get('authorization'));
    if (basic) return basic.clientId;
  } catch {
    return '';
  }
  return form?.get('client_id') ?? '';
}

/** Every secret a refused request presented: Basic's and the form's `client_secret` (both, when it sent both). */
function presentedSecretsOf(request: HttpRequest, form: Map<string, string> | undefined): string[] {
  const secrets = presentedSecrets(request.headers.get('authorization'), null);
  const postSecret = form?.get('client_secret');
  if (postSecret !== undefined) secrets.push(postSecret);
  return secrets;
}

/**
 * `POST /api/oauth2/token`: the OAuth 2.0 client credentials grant (RFC 6749 §4.4) with
 * `client_secret_basic` (§2.3.1, id and secret form-urlencoded inside Basic) or `client_secret_post`.
 * Using both at once is `invalid_request` (§2.3). RFC 8707's `resource` stands in for a missing `scope`.
 * As §3.2 asks, a parameter sent without a value counts
 * as omitted, a repeated one is `invalid_request`, and parameters the route does not read are ignored,
 * repeated or not. Exactly one scope per request, since every upstream token has one audience; a
 * request without `scope` gets the client's only allowed scope, and fails with `invalid_scope` when it
 * has several (§3.3 "pre-defined default value or fail").
 *
 * Success (§5.1): `{ access_token, token_type: 'Bearer', expires_in, scope }` with `Cache-Control:
 * no-store` and `Pragma: no-cache`. Errors (§5.2): `invalid_request` (malformed, a parameter repeated,
 * `grant_type` missing), `invalid_client` (401 with `WWW-Authenticate: Basic`), `unauthorized_client`
 * (disabled or expired client), `invalid_scope`, `unsupported_grant_type` (a grant type other than
 * `client_credentials`); beyond RFC 6749, `slow_down` with 429 (rate limit, backoff) and
 * `temporarily_unavailable` with 503 (no upstream token), both with `Retry-After`.
 */
export class OAuthTokenProtocol {
  private readonly wwwAuthenticate: string;
  private readonly maxBodyBytes: number;

  constructor(private readonly options: OAuthTokenProtocolOptions) {
    this.wwwAuthenticate = basicChallenge(options.realm);
    this.maxBodyBytes = options.maxBodyBytes ?? OAUTH_MAX_BODY_BYTES;
  }

  /** Answers one token request; never throws. */
  async handle(request: HttpRequest): Promise<HttpResponseInit> {
    let form: Map<string, string> | undefined;
    let vending = false;
    try {
      requireForm(request);
      form = parseForm(await readBodyText(request, this.maxBodyBytes), PARAMETERS);
      const credentials = this.credentials(request, form);
      const grantType = form.get('grant_type');
      if (grantType !== 'client_credentials') {
        // §5.2: a missing required parameter is invalid_request; unsupported_grant_type is for one sent.
        if (grantType === undefined)
          throw new InvalidTokenRequestError('The grant_type parameter is required.');
        throw new UnsupportedGrantTypeError('Only the client_credentials grant is supported.');
      }
      const scope = requestedScope(form);
      vending = true;
      const { token, scope: granted } = await this.options.broker.vend({
        protocol: 'oauth',
        clientId: credentials.clientId,
        secret: credentials.secret,
        scope,
      });
      const expiresIn = Math.floor((token.expiresOnMs - this.options.clock.now()) / 1000);
      return {
        status: 200,
        headers: { 'content-type': 'application/json;charset=UTF-8', ...NO_STORE },
        body: `{"access_token":${token.valueJson},"token_type":"Bearer","expires_in":${expiresIn},"scope":${JSON.stringify(scope ?? granted)}}`,
      };
    } catch (error) {
      // The broker audits its own refusals; one made here, before it, is audited with what was presented.
      if (!vending) {
        await this.options.broker.refused(
          {
            protocol: 'oauth',
            clientId: presentedClientId(request, form),
            scope: form?.get('scope') ?? form?.get('resource'),
            secrets: presentedSecretsOf(request, form),
          },
          error,
        );
      }
      return this.errorResponse(error);
    }
  }

  private credentials(request: HttpRequest, form: Map<string, string>): PresentedCredentials {
    const basic = parseBasicAuthorization(request.headers.get('authorization'));
    const postId = form.get('client_id');
    const postSecret = form.get('client_secret');
    if (basic) {
      if (postSecret !== undefined) {
        throw new InvalidTokenRequestError(
          'Use one client authentication method, not Basic and form fields.',
        );
      }
      if (postId !== undefined && postId !== basic.clientId) {
        throw new InvalidTokenRequestError('client_id does not match the Basic credentials.');
      }
      return basic;
    }
    if (postId !== undefined && postSecret !== undefined) {
      return { clientId: postId, secret: postSecret, method: 'post' };
    }
    throw new InvalidClientError('Client authentication is required.');
  }

  private errorResponse(error: unknown): HttpResponseInit {
    const [status, code] = this.classify(error);
    const headers: Record<string, string> = { 'content-type': 'application/json;charset=UTF-8', ...NO_STORE };
    if (status === 401) headers['www-authenticate'] = this.wwwAuthenticate;
    const retryAfter = error instanceof AppError ? error.retryAfterSeconds : undefined;
    if ((status === 429 || status === 503) && retryAfter !== undefined) {
      headers['retry-after'] = String(Math.ceil(retryAfter));
    }
    if (status === 500) {
      this.options.logger.error('token => unexpected error', {
        error: errorName(error),
      });
    }
    return {
      status,
      headers,
      body: JSON.stringify({ error: code, error_description: clientMessage(error) }),
    };
  }

  private classify(error: unknown): [number, string] {
    if (error instanceof InvalidClientError) return [401, 'invalid_client'];
    if (error instanceof UnsupportedGrantTypeError) return [400, 'unsupported_grant_type'];
    if (error instanceof ScopeNotAllowedError) return [400, 'invalid_scope'];
    if (error instanceof ClientNotAuthorizedError) return [400, 'unauthorized_client'];
    if (error instanceof RateLimitedError) return [429, 'slow_down'];
    if (error instanceof PayloadTooLargeError) return [413, 'invalid_request'];
    if (error instanceof DependencyUnavailableError) return [503, 'temporarily_unavailable'];
    if (error instanceof AppError && error.status === 400) return [400, 'invalid_request'];
    return [500, 'server_error'];
  }
}
