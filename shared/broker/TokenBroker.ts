import type { Clock } from '../clock';
import { AppError } from '../errors';
import type { Logger } from '../logging';
import { errorName } from '../networkErrors';
import type { Telemetry } from '../telemetry';
import { type AuditLog, auditText, type BrokerProtocol, withheldScope } from './AuditLog';
import type { ClientAuthenticator } from './ClientAuthenticator';
import {
  ClientRateLimitedError,
  MalformedScopeError,
  ScopeNotAllowedError,
  UpstreamUnavailableError,
} from './errors';
import { LruMap } from './LruMap';
import type { RateLimiter } from './RateLimiter';
import { type ParsedScope, parseScope } from './scope';
import type { ScopeResolver } from './ScopeResolver';
import type { CachedToken, TokenCache } from './TokenCache';
import type { UpstreamClass } from './UpstreamToken';

/** One token request, whatever the protocol. */
export interface VendRequest {
  readonly protocol: BrokerProtocol;
  readonly clientId: string;
  readonly secret: string;
  /** One scope; undefined asks for the client's only allowed scope (fails if it has several). */
  readonly scope: string | undefined;
}

/** A request as its audit row and `TokenDenied` event describe it: never its secret. */
type RecordedRequest = Omit<VendRequest, 'secret'>;

/** What a request refused before it reached the broker presented. */
export interface PresentedRequest extends RecordedRequest {
  /**
   * Every secret the request presented, as far as it could be read (Basic's, the form's `client_secret`,
   * the identity header's; none when there were none): read only so that a scope holding one is
   * recorded as `withheld:`, as `vend` records it, never stored.
   */
  readonly secrets: readonly string[];
}

/** A vended credential and the (normalised) scope it is for. */
export interface VendResult {
  readonly token: CachedToken;
  readonly scope: string;
}

/** Options of {@link TokenBroker}. */
export interface TokenBrokerOptions {
  authenticator: ClientAuthenticator;
  rateLimiter: RateLimiter;
  resolver: ScopeResolver;
  cache: TokenCache;
  audit: AuditLog;
  telemetry: Telemetry;
  clock: Clock;
  logger: Logger;
  /** `TokenIssued` telemetry events are sampled: one per this many issuances. @default 100 */
  issuedSampleEvery?: number;
  /**
   * `TokenDenied` telemetry events are capped: at most this many per second (of the clock); the
   * `BrokerTokensDenied` metric counts every denial. @default 10
   */
  deniedEventsPerSecond?: number;
}

/**
 * The broker's one operation: authenticate the client, apply its rate limit, check the scope against
 * its allow-list, map the scope to an upstream and hand out a cached (or freshly fetched) token. Every
 * decision is audited (client, scope, outcome, upstream; never the token) and counted in telemetry.
 * The warm path does a handful of map lookups and no I/O, and no HMAC either once the client's
 * secret has matched (see {@link ClientAuthenticator}); it awaits nothing either, each step answered from
 * memory at one reading of the clock (`authenticateCached`, `resolveCached`, `getCached`).
 * @example const { token } = await broker.vend({ protocol: 'oauth', clientId, secret, scope: 'demo-token' });
 */
export class TokenBroker {
  private readonly parsed = new LruMap<string, ParsedScope | null>(1000);
  private readonly issuedSampleEvery: number;
  private issuedCount = 0;
  private readonly deniedEventsPerSecond: number;
  /** Epoch second of the latest denial, and the `TokenDenied` events sent in it. */
  private deniedSecond = -1;
  private deniedEventsInSecond = 0;
  /** Denials since the latest `TokenDenied` event that had none of their own. */
  private deniedUnsent = 0;

  constructor(private readonly options: TokenBrokerOptions) {
    this.issuedSampleEvery = options.issuedSampleEvery ?? 100;
    this.deniedEventsPerSecond = options.deniedEventsPerSecond ?? 10;
  }

  /**
   * Vends a token.
   * @param presentedScope - the scope as the client sent it, when `request.scope` stands in for it (the
   *   Azure ML route sends `''` for an id with a colon, which could parse as a resource URI): audited in
   *   its place. Read only on a denial, so a vend pays nothing for it.
   * @throws InvalidClientError, ClientBackoffError, ClientNotAuthorizedError, ClientRateLimitedError,
   *   MalformedScopeError (a scope that does not parse), ScopeNotAllowedError (a well-formed one refused),
   *   UpstreamUnavailableError, DependencyUnavailableError
   */
  async vend(request: VendRequest, presentedScope?: string): Promise<VendResult> {
    let scope = request.scope ?? '';
    const { authenticator, resolver, cache, clock } = this.options;
    try {
      // Each step is answered from memory when it can be (`…Cached`), at one reading of the clock, and
      // awaited only when it cannot (the clock read again after it): a warm vend runs to its end at once,
      // without a promise or a microtask turn of its own steps.
      let now = clock.now();
      let client = authenticator.authenticateCached(request.clientId, request.secret, now);
      if (!client) {
        client = await authenticator.authenticate(request.clientId, request.secret);
        now = clock.now();
      }
      const retryAfter = this.options.rateLimiter.take(client.id, client.rateLimitPerMinute, now);
      if (retryAfter > 0) throw new ClientRateLimitedError(retryAfter);
      if (request.scope === undefined) {
        if (client.allowedScopes.size !== 1) {
          throw new ScopeNotAllowedError('A scope is required: the client may request several.');
        }
        scope = client.allowedScopes.values().next().value as string;
      }
      const parsed = this.parse(scope);
      scope = parsed.value;
      if (!client.allowedScopes.has(parsed.value)) {
        throw new ScopeNotAllowedError('The client may not request this scope.');
      }
      let resolved = resolver.resolveCached(parsed, now);
      if (!resolved) {
        resolved = await resolver.resolve(parsed);
        now = clock.now();
      }
      if (resolved.requiresKeyAccess && !client.keyAccess) {
        throw new ScopeNotAllowedError('Key access is not enabled for this client.');
      }
      const { cacheKey, fetch } = resolved;
      const token = cache.getCached(cacheKey, fetch, now) ?? (await cache.get(cacheKey, fetch));
      this.issued(request, scope, resolved.fetch.upstream);
      return { token, scope };
    } catch (error) {
      const secrets = [request.secret];
      if (presentedScope === undefined) this.denied(request, scope, error, secrets);
      else {
        const { protocol, clientId } = request;
        this.denied({ protocol, clientId, scope: presentedScope }, presentedScope, error, secrets);
      }
      throw error;
    }
  }

  /**
   * Audits and counts a request its protocol refused before {@link vend} (malformed, or without usable
   * credentials), with the client id and scope it presented as far as they could be read (`''` when
   * not; each recorded as `vend` records it, a scope holding one of the secrets it presented included),
   * so that every decision of a token route has its audit row and `TokenDenied` event.
   */
  async refused(request: PresentedRequest, error: unknown): Promise<void> {
    await this.options.authenticator.learn(request.clientId);
    const { protocol, clientId, scope } = request;
    this.denied({ protocol, clientId, scope }, scope ?? '', error, request.secrets);
  }

  private parse(scope: string): ParsedScope {
    let parsed = this.parsed.get(scope);
    if (parsed === undefined) {
      parsed = parseScope(scope) ?? null;
      this.parsed.set(scope, parsed);
    }
    if (parsed === null) {
      if (/\s/.test(scope)) throw new MalformedScopeError('Request exactly one scope per token.');
      throw new MalformedScopeError('The scope is not a valid endpoint id or https resource URI.');
    }
    return parsed;
  }

  private issued(request: VendRequest, scope: string, upstream: UpstreamClass): void {
    this.options.audit.record({
      timeMs: this.options.clock.now(),
      clientId: request.clientId,
      scope,
      protocol: request.protocol,
      outcome: 'issued',
      upstream,
    });
    if (this.issuedCount++ % this.issuedSampleEvery === 0) {
      this.options.telemetry.trackEvent('TokenIssued', {
        clientId: request.clientId,
        scope,
        protocol: request.protocol,
        upstream,
        sampleEvery: this.issuedSampleEvery,
      });
    }
  }

  /** Whether a denial at `timeMs` may have its own `TokenDenied` event (within the second's budget). */
  private takeDeniedEvent(timeMs: number): boolean {
    const second = Math.floor(timeMs / 1000);
    if (second !== this.deniedSecond) {
      this.deniedSecond = second;
      this.deniedEventsInSecond = 0;
    }
    if (this.deniedEventsInSecond >= this.deniedEventsPerSecond) return false;
    this.deniedEventsInSecond += 1;
    return true;
  }

  /**
   * `scope` as an audit row and a `TokenDenied` event may hold it. A presented scope that parses (an
   * endpoint id or `https` resource URI) is kept, normalised if it got that far: it is what operators
   * search by. One that does not parse is recorded as a fingerprint and its length, as an unregistered
   * client id is: a client that pastes its secret, a token or a key where the scope goes must not have
   * it stored in a Table row and sent to Application Insights. So is one, parsing or not, that holds the
   * secret (or one of the secrets) the request presented. No scope presented (`''`, or the client's only
   * allowed one chosen for it) is kept as it is. Off the warm path: only denials come here.
   * @param presented - the scope as the client sent it
   * @param secrets - the secrets the request presented, as far as they could be read
   */
  private recordableScope(scope: string, presented: string | undefined, secrets: readonly string[]): string {
    if (!presented) return auditText(scope);
    if (secrets.some((secret) => secret !== '' && presented.includes(secret))) {
      return withheldScope('withheld', presented);
    }
    // The parse cache is only read: a flood of unauthenticated made-up scopes must not push the warm
    // path's entries out (only authenticated requests fill it, in `parse`).
    const cached = this.parsed.peek(presented);
    const parses = cached === undefined ? parseScope(presented) !== undefined : cached !== null;
    return parses ? auditText(scope) : withheldScope('malformed', presented);
  }

  private denied(request: RecordedRequest, scope: string, error: unknown, secrets: readonly string[]): void {
    const reason = error instanceof AppError ? error.code : 'InternalError';
    const upstream = error instanceof UpstreamUnavailableError ? error.upstream : undefined;
    const failure = error instanceof UpstreamUnavailableError ? error.failure : undefined;
    const clientId = request.clientId && this.options.authenticator.recordableId(request.clientId);
    const recordedScope = this.recordableScope(scope, request.scope, secrets);
    const timeMs = this.options.clock.now();
    this.options.audit.record({
      timeMs,
      clientId,
      scope: recordedScope,
      protocol: request.protocol,
      outcome: 'denied',
      reason,
      ...(upstream ? { upstream } : {}),
      ...(failure ? { failure } : {}),
    });
    // Custom events are never sampled and the SDK queues at most 2,048 log items, dropping the rest: one
    // event per denial let a flood of refused requests (5,000 at once) push a RotationFailed event out,
    // and each cost about 30 µs of CPU. The metric, aggregated per minute by the SDK, keeps the count.
    this.options.telemetry.trackMetric('BrokerTokensDenied', 1, {
      reason,
      protocol: request.protocol,
      upstream,
      failure,
    });
    if (this.takeDeniedEvent(timeMs)) {
      this.options.telemetry.trackEvent('TokenDenied', {
        reason,
        protocol: request.protocol,
        clientId,
        scope: recordedScope,
        upstream,
        failure,
        ...(this.deniedUnsent > 0 ? { unsentBefore: this.deniedUnsent } : {}),
      });
      this.deniedUnsent = 0;
    } else this.deniedUnsent += 1;
    if (!(error instanceof AppError)) {
      this.options.logger.error('vend => unexpected error', {
        error: errorName(error),
      });
    }
  }
}
