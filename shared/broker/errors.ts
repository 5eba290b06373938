import { AppError, ConflictError, DependencyUnavailableError, RateLimitedError } from '../errors';
import { type ClientColumn, STORED_FORMS } from './clientRows';
import type { UpstreamClass, UpstreamFailure } from './UpstreamToken';

/**
 * The broker's errors. Every one carries a stable `code`; the protocol modules (OAuth, MSI, AML token)
 * render them in their own wire formats, so no message here may contain a secret, a token or a hash.
 * Authentication failures deliberately say nothing about *why* (unknown id vs wrong secret).
 */

/** Client authentication failed: unknown client id, wrong secret, or no credentials at all. 401. */
export class InvalidClientError extends AppError {
  readonly code = 'InvalidClient';
  readonly status = 401;
  constructor(message = 'Client authentication failed.', options?: ErrorOptions) {
    super(message, options);
  }
}

/** The request is malformed for its protocol (missing or repeated parameter, wrong content type). 400. */
export class InvalidTokenRequestError extends AppError {
  readonly code = 'InvalidRequest';
  readonly status = 400;
}

/** The grant type is not `client_credentials`. 400. */
export class UnsupportedGrantTypeError extends AppError {
  readonly code = 'UnsupportedGrantType';
  readonly status = 400;
}

/** Too many bad secrets for one client id: back off. 429 with `Retry-After`. */
export class ClientBackoffError extends RateLimitedError {
  override readonly code = 'ClientBackoff';
  constructor(retryAfterSeconds: number) {
    super(`Too many failed authentication attempts; retry after ${retryAfterSeconds} s.`, retryAfterSeconds);
  }
}

/**
 * A refused authentication while the instance holds back client registry reads (a flood of unknown
 * client ids spent its cold-read budget): the id may be a client's whose record was not read, so the
 * client is told to retry rather than that its secret is wrong. Given for every refusal meanwhile, known
 * id or not, so it tells nothing about the id. 503 with `Retry-After`.
 */
export class ClientLookupsBusyError extends DependencyUnavailableError {
  override readonly code = 'ClientLookupsBusy';
  constructor(retryAfterSeconds: number) {
    super('clientRegistry', 'Client lookups are held back; retry shortly.', { retryAfterSeconds });
  }
}

/** The authenticated client exceeded its requests per minute. 429 with `Retry-After`. */
export class ClientRateLimitedError extends RateLimitedError {
  override readonly code = 'ClientRateLimited';
  constructor(retryAfterSeconds: number) {
    super(`Rate limit exceeded; retry after ${retryAfterSeconds} s.`, retryAfterSeconds);
  }
}

/** The client authenticated but is disabled or past its expiry (`unauthorized_client` in OAuth). 403. */
export class ClientNotAuthorizedError extends AppError {
  readonly code = 'ClientNotAuthorized';
  readonly status = 403;
}

/** A client changed between the read and the write of an admin call (retried before it gets out). 409. */
export class ClientChangedError extends ConflictError {
  override readonly code = 'ClientChanged';
}

/**
 * The client's row in the broker client table cannot be read: a column every version writes is missing, or
 * holds a value of another type or form (a hand edit in Storage Explorer, say). Not "not found": the id is
 * taken, and a `DELETE` still removes the row. Not read as something else either: the scopes it had were
 * shown as none, an `enabled` written as text as a disabled client, and the next admin write stored that
 * over the edit. The message names the id (at most 64 characters, as it is answered to whoever sent it)
 * and the columns at fault, never what they hold: a hand edit may have pasted anything there.
 */
export class ClientRecordUnreadableError extends ConflictError {
  override readonly code = 'CLIENT_RECORD_UNREADABLE';
  constructor(
    readonly clientId: string,
    /** The columns at fault, by name. */
    readonly fields: readonly ClientColumn[],
  ) {
    const named = fields.map((field) => `${field} (${STORED_FORMS[field]})`).join(', ');
    super(
      `Broker client ${clientId.slice(0, 64)} is stored in a form this app cannot read: ` +
        `${fields.length === 1 ? 'column' : 'columns'} ${named} ${fields.length === 1 ? 'is' : 'are'} ` +
        `missing or of another form. Correct its row (row key ${clientId.slice(0, 64)}) in the broker client ` +
        `table, or DELETE the client and create it again (with new secrets).`,
    );
  }
}

/**
 * The scope is not on the client's allow-list, or names nothing the broker can serve (unknown,
 * disabled or retired endpoint; key access not opted in). `invalid_scope` in OAuth. 403. Also the
 * family of every scope refusal (OAuth answers each with `invalid_scope`), whose members may have a
 * code and status of their own.
 */
export class ScopeNotAllowedError extends AppError {
  readonly code: string = 'ScopeNotAllowed';
  readonly status: number = 403;
}

/**
 * The scope names an endpoint whose registration cannot be read (edited by hand): refused like a disabled
 * one, 403 and OAuth's `invalid_scope`, but under its own code so that the audit trail and the
 * `TokenDenied` telemetry show the operator a registration to mend rather than a grant the client lacks.
 */
export class EndpointRecordUnreadableScopeError extends ScopeNotAllowedError {
  override readonly code = 'EndpointRecordUnreadable';
}

/**
 * The scope names a `Key` registration whose Key Vault secret `ENDPOINTS_FILE` declares for an entry of another
 * Azure ML endpoint (the registration was made before the file declared it): once the entry has rotated, the
 * secret holds that endpoint's key, which a client allowed this scope only must not get. Refused like an
 * unreadable registration, 403 and OAuth's `invalid_scope`, under its own code so that the audit trail and
 * `TokenDenied` point the operator at a registration to mend (`PATCH` its `secretName`, or `DELETE` it). The
 * message names neither the entry nor the secret: it is answered to the client.
 */
export class EndpointDeclaredInFileScopeError extends ScopeNotAllowedError {
  override readonly code = 'EndpointDeclaredInFile';
}

/**
 * The scope is not one scope of the broker's syntax (an endpoint id or an `https` resource URI, see
 * `scope.ts`): a mistake in the request rather than a refusal, so a 400 on the managed identity and
 * Azure ML routes where a well-formed scope the client may not have gets 403. Its own code, so that the
 * audit trail and the `BrokerTokensDenied` / `TokenDenied` telemetry tell a typo from a grant the client
 * lacks. A `ScopeNotAllowedError`, so OAuth still answers `invalid_scope`.
 */
export class MalformedScopeError extends ScopeNotAllowedError {
  override readonly code = 'ScopeMalformed';
  override readonly status = 400;
}

/**
 * A token request for a v1 web service breaks a v1 auth rule (token auth only on AKS, off by default,
 * never together with key auth). A `ScopeNotAllowedError`, so every protocol answers its 4xx
 * (`invalid_scope` in OAuth); the message names the rule and its code.
 */
export class V1TokenRuleError extends ScopeNotAllowedError {
  constructor(
    readonly ruleCode: string,
    ruleText: string,
  ) {
    super(`Tokens cannot be brokered for this v1 web service: ${ruleText} (${ruleCode}).`);
  }
}

/** What an upstream adapter throws: the upstream, the failure class and the upstream's retry hint. */
export class UpstreamTokenError extends DependencyUnavailableError {
  override readonly code = 'UpstreamTokenFailed';
  /** HTTP status the upstream answered with, when it answered. */
  readonly upstreamStatus?: number;
  /** The upstream's own `Retry-After`, when it sent one. */
  readonly upstreamRetryAfterSeconds?: number;
  constructor(
    readonly upstream: UpstreamClass,
    readonly failure: UpstreamFailure,
    options?: ErrorOptions & { retryAfterSeconds?: number; status?: number },
  ) {
    super(upstream, `${upstream} token request failed (${failure}).`, options);
    if (options?.status !== undefined) this.upstreamStatus = options.status;
    if (options?.retryAfterSeconds !== undefined) this.upstreamRetryAfterSeconds = options.retryAfterSeconds;
  }
}

/**
 * No token with enough lifetime left can be had for a scope right now. 503 with `Retry-After`; the
 * message names the upstream and the failure class (never its body, which may echo credentials).
 */
export class UpstreamUnavailableError extends DependencyUnavailableError {
  override readonly code = 'UpstreamUnavailable';
  constructor(
    readonly upstream: UpstreamClass,
    readonly failure: UpstreamFailure,
    retryAfterSeconds: number,
    options?: ErrorOptions,
  ) {
    super(
      upstream,
      `No valid token is available: upstream ${upstream} failed (${failure}). Retry after ${retryAfterSeconds} s.`,
      { ...options, retryAfterSeconds },
    );
  }
}
