import { type Clock, keptAfterFailedReRead, reReadOrPrevious, withinTimeLimitGivingUp } from '../clock';
import type { EndpointRegistry, FileEntryClash } from '../endpoints/EndpointRegistry';
import { type ManagedEndpoint, unknownHere } from '../endpoints/ManagedEndpoint';
import { DependencyUnavailableError } from '../errors';
import type { Logger } from '../logging';
import { EndpointRecordUnreadableError } from '../rotation/errors';
import {
  EndpointDeclaredInFileScopeError,
  EndpointRecordUnreadableScopeError,
  ScopeNotAllowedError,
} from './errors';
import { LruMap } from './LruMap';
import { resolveV1TokenScope, type V1ServiceLookup } from './resolveV1Scope';
import {
  endpointCacheKey,
  endpointOrigin,
  isPrivilegedResource,
  ML_RESOURCE,
  type ParsedScope,
} from './scope';
import type { TokenFetch } from './TokenCache';
import type { UpstreamTokenSource } from './UpstreamToken';

/** The broker's view of the endpoint registry (the rotation module's registry satisfies it). */
export interface BrokerEndpointLookup {
  /**
   * The endpoint, or undefined when none has that id.
   * @param abortSignal - the read, its request included, stops when it fires (a caller past its time limit)
   */
  get(id: string, abortSignal?: AbortSignal): Promise<ManagedEndpoint | undefined>;
  /**
   * The `ENDPOINTS_FILE` entry a table registration collides with, as the registry answers it (no storage
   * read): asked of `Key` registrations only, whose key is read from a secret an entry may have taken over.
   */
  fileEntryClash: EndpointRegistry['fileEntryClash'];
}

/** The upstream adapters, one per upstream class. */
export interface UpstreamSources {
  amlToken: UpstreamTokenSource<ManagedEndpoint>;
  managedIdentity: UpstreamTokenSource<string>;
  keyVault: UpstreamTokenSource<ManagedEndpoint>;
  /** v1 AKS service tokens (absent: v1 token scopes are refused). */
  v1Token?: UpstreamTokenSource<ManagedEndpoint>;
}

/** Where a scope's tokens come from; built once per scope and reused by every request. */
export interface ResolvedScope {
  /** Token cache key: `aml:<id>`, `v1:<id>`, `mi:<resource>` (AADToken endpoints share `mi:https://ml.azure.com`), `key:<id>`. */
  readonly cacheKey: string;
  readonly fetch: TokenFetch;
  /** The credential is an endpoint key: the client must have opted in to key access. */
  readonly requiresKeyAccess: boolean;
}

interface Slot {
  /** The answer; an error is thrown to the scope's requests (a refusal, or a failed read: see `failed`). */
  resolved: ResolvedScope | Error;
  resolvedAtMs: number;
  /** The read failed with nothing to serve instead: `resolved` answers until the next try, seconds later. */
  failed?: true;
}

/** Options of {@link ScopeResolver}. */
export interface ScopeResolverOptions {
  endpoints: BrokerEndpointLookup;
  sources: UpstreamSources;
  clock: Clock;
  logger: Logger;
  /** Reads v1 web services' auth flags (v1 token scopes). */
  v1Services?: V1ServiceLookup;
  /** How long an endpoint lookup is reused. @default 30000 */
  ttlMs?: number;
  /** Scopes remembered at once. @default 10000 */
  maxEntries?: number;
  /**
   * How long the request that starts the re-read of an expired lookup waits for it before it is served
   * the last answer (requests meanwhile get that at once): a slow or silent registry (or v1 region) then
   * holds no request up for longer than this. @default 1000
   */
  reloadWaitMs?: number;
  /**
   * Longest a registry or v1 service read may take before it counts as failed (and is aborted, its
   * request closed): the SDKs set no time limit, and a read that never answers would hold its scope's
   * lookups for good. @default 10000
   */
  readTimeLimitMs?: number;
}

/**
 * Maps a scope to its upstream: resource URIs to a managed-identity token for that resource; endpoint
 * ids by auth mode: `AMLToken` online endpoints to ARM's endpoint token, `AMLToken` v1 web services to
 * the service token (after the v1 rules, `resolveV1Scope.ts`), `AADToken` endpoints to a
 * managed-identity token for `https://ml.azure.com`, `Key` endpoints (only with `brokerKeyAccess`, and not
 * when `ENDPOINTS_FILE` declares their secret for another endpoint) to the current key in Key Vault. Unknown, disabled and retired endpoints are refused, and so are those of a
 * kind or auth mode this version does not know (a newer one registered them). Lookups are cached
 * for `ttlMs` (also negative ones) and built once for concurrent callers (single flight); an outage of
 * the registry or of a v1 region keeps using the last answer, retried every few seconds, and so does a
 * re-read that is still running (after `reloadWaitMs` for the request that started it).
 */
export class ScopeResolver {
  private readonly slots: LruMap<string, Slot>;
  private readonly building = new Map<string, Promise<Slot>>();
  private readonly ttlMs: number;
  private readonly reloadWaitMs: number;
  private readonly readTimeLimitMs: number;

  constructor(private readonly options: ScopeResolverOptions) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.reloadWaitMs = options.reloadWaitMs ?? 1000;
    this.readTimeLimitMs = options.readTimeLimitMs ?? 10_000;
    this.slots = new LruMap(options.maxEntries ?? 10_000);
  }

  /**
   * Resolves a parsed scope.
   * @throws ScopeNotAllowedError when it names nothing the broker serves
   */
  async resolve(scope: ParsedScope): Promise<ResolvedScope> {
    const now = this.options.clock.now();
    let slot = this.slots.get(scope.value);
    if (!slot || !this.fresh(slot, now)) {
      const startedHere = !this.building.has(scope.value);
      const building = this.buildOnce(scope, slot, now);
      slot = await (slot ? reReadOrPrevious(building, slot, startedHere, this.reloadWaitMs) : building);
    }
    return this.answer(slot);
  }

  /**
   * What {@link resolve} answers at once, synchronously (the warm path of a vend): the resolution cached
   * less than `ttlMs` before `now`, else undefined, and `resolve` must read.
   * @param now - the clock's time
   * @throws ScopeNotAllowedError (or the failure) cached for the scope
   */
  resolveCached(scope: ParsedScope, now: number): ResolvedScope | undefined {
    const slot = this.slots.get(scope.value);
    return slot && this.fresh(slot, now) ? this.answer(slot) : undefined;
  }

  /** Whether the slot still answers at `now` (a failed read's answer until its next try, seconds on). */
  private fresh(slot: Slot, now: number): boolean {
    return now - slot.resolvedAtMs < this.ttlMs;
  }

  /** A slot's answer: its resolution, or its refusal (or failure) thrown. */
  private answer(slot: Slot): ResolvedScope {
    if (slot.resolved instanceof Error) throw slot.resolved;
    return slot.resolved;
  }

  /**
   * One build per scope at a time: N concurrent cold requests (hundreds per second under load, each time
   * the TTL runs out) read the registry, and a v1 service, once. When the read fails, the last answer
   * (if any) is kept and looked at again in a few seconds rather than on every request.
   */
  private buildOnce(scope: ParsedScope, previous: Slot | undefined, now: number): Promise<Slot> {
    const running = this.building.get(scope.value);
    if (running) return running;
    const pending: Promise<Slot> = this.build(scope)
      .then((resolved) => {
        const slot = { resolved, resolvedAtMs: now };
        // An invalidate() while the read ran makes its answer stale: keep it for these callers only.
        if (this.building.get(scope.value) === pending) this.slots.set(scope.value, slot);
        return slot;
      })
      .catch((error: unknown) => {
        const retryAtMs = keptAfterFailedReRead(this.options.clock.now(), this.ttlMs);
        if (!previous || previous.failed) {
          // Nothing to serve: this failure answers the scope's requests until the next try, a few seconds
          // on, rather than each one reading a failing registry or v1 region again.
          const failure = error instanceof Error ? error : new Error(String(error));
          if (this.building.get(scope.value) === pending)
            this.slots.set(scope.value, { resolved: failure, resolvedAtMs: retryAtMs, failed: true });
          throw error;
        }
        previous.resolvedAtMs = retryAtMs;
        this.options.logger.warn('resolve => lookup unavailable, using last answer', { scope: scope.value });
        return previous;
      })
      .finally(() => {
        if (this.building.get(scope.value) === pending) this.building.delete(scope.value);
      });
    this.building.set(scope.value, pending);
    return pending;
  }

  /** Forgets cached resolutions (after an endpoint changed). */
  invalidate(scopeValue?: string): void {
    if (scopeValue === undefined) {
      this.slots.clear();
      this.building.clear();
    } else {
      this.slots.delete(scopeValue);
      this.building.delete(scopeValue);
    }
  }

  private async build(scope: ParsedScope): Promise<ResolvedScope | ScopeNotAllowedError> {
    if (isPrivilegedResource(scope))
      return new ScopeNotAllowedError(
        `${scope.value} tokens carry the broker's own rights (its keys, secrets and storage); no client gets one.`,
      );
    if (scope.kind === 'resource') return this.resource(scope.value);
    let endpoint: ManagedEndpoint | undefined;
    try {
      // Past the time limit the read is given up, not left running: under a silent table its request would
      // hold a socket until the transport's 30-s try limit, one per scope every 5 s while the read fails.
      endpoint = await withinTimeLimitGivingUp(
        (signal) => this.options.endpoints.get(scope.value, signal),
        this.readTimeLimitMs,
      );
    } catch (error) {
      if (error instanceof EndpointRecordUnreadableError) return this.unreadable(scope, error);
      throw registryUnreachable(error);
    }
    // A kind or auth mode a newer version registered (a rolling deployment) is no cause to act: this
    // version cannot tell which upstream serves it, so it serves none.
    if (!endpoint || !endpoint.enabled || endpoint.retiredAt || unknownHere(endpoint)) {
      return new ScopeNotAllowedError('The scope names no endpoint the broker serves.');
    }
    const { sources } = this.options;
    switch (endpoint.authMode) {
      case 'AADToken':
        return this.resource(ML_RESOURCE);
      case 'AMLToken': {
        if (endpoint.kind === 'v1WebService')
          return resolveV1TokenScope(endpoint, {
            services: this.options.v1Services,
            source: sources.v1Token,
            timeLimitMs: this.readTimeLimitMs,
          });
        if (endpoint.kind !== 'onlineEndpoint') {
          return new ScopeNotAllowedError('Tokens are brokered for online endpoints only.');
        }
        return endpointScope(endpoint, 'aml', sources.amlToken);
      }
      case 'Key': {
        if (!endpoint.brokerKeyAccess) {
          return new ScopeNotAllowedError('Key access is not enabled for this endpoint.');
        }
        // Asked here, as the scope is built (once per TTL), never on a cached vend: a refusal is cached like the others.
        const clash = await this.fileEntryClash(endpoint);
        const secretEntry = clash?.shares === 'secret' ? clash.entry : clash?.secretOf;
        if (secretEntry !== undefined) return this.secretDeclaredInFile(endpoint, secretEntry);
        return endpointScope(endpoint, 'key', sources.keyVault);
      }
    }
  }

  /**
   * An endpoint whose registration cannot be read is refused like a disabled one (`invalid_scope`, 403),
   * not answered 503: the registry answered, and nothing changes until a person mends or deletes the row,
   * so a 503 would only have clients retry (MSAL and the Azure SDKs do so by themselves) and alerts blame
   * storage. A refusal is also what every instance answers alike: the last answer an instance still
   * holds is not served on, as it would be through an outage, since the edit may be the very one that
   * disabled the endpoint. The refusal is cached like the others, so the row is read again once per TTL.
   */
  private unreadable(
    scope: ParsedScope,
    error: EndpointRecordUnreadableError,
  ): EndpointRecordUnreadableScopeError {
    this.options.logger.warn('resolve => endpoint row unreadable, scope refused', {
      scope: scope.value,
      code: error.code,
      why: error.why,
    });
    return new EndpointRecordUnreadableScopeError(
      'The endpoint this scope names cannot be served until an operator repairs its registration.',
    );
  }

  /** The registry's answer, a failure of it as the registry's (the file is read once, so this is rare). */
  private async fileEntryClash(endpoint: ManagedEndpoint): Promise<FileEntryClash | undefined> {
    try {
      return await this.options.endpoints.fileEntryClash(endpoint);
    } catch (error) {
      throw registryUnreachable(error);
    }
  }

  /**
   * A `Key` registration whose secret `ENDPOINTS_FILE` declares for another Azure ML endpoint is refused: the
   * entry rotates its own endpoint's keys into that secret, so the key read there is another endpoint's. One at
   * an entry's endpoint (`shares: 'endpoint'`) is served, as its token registrations are: its key, and a token
   * for it, are for that very endpoint, unless it holds another entry's secret (`secretOf`). Refused as an unreadable registration is (403, not 503): only a person
   * can mend it. The warning names the two ids, never the secret's value.
   */
  private secretDeclaredInFile(endpoint: ManagedEndpoint, entry: string): EndpointDeclaredInFileScopeError {
    this.options.logger.warn(
      'resolve => Key Vault secret declared in ENDPOINTS_FILE for another endpoint, key refused',
      { endpointId: endpoint.id, alsoRegisteredAs: entry },
    );
    return new EndpointDeclaredInFileScopeError(
      "This endpoint's key cannot be brokered until an operator gives its registration a Key Vault secret of its own.",
    );
  }

  private resource(resource: string): ResolvedScope {
    const source = this.options.sources.managedIdentity;
    return {
      cacheKey: `mi:${resource}`,
      requiresKeyAccess: false,
      fetch: { upstream: 'managedIdentity', fetch: (signal) => source.getToken(resource, signal) },
    };
  }
}

/**
 * The scope of an online endpoint's AML token, or of an endpoint's key (which only clients with key
 * access get), fetched by `source`: cached under the endpoint's id, and served only while the endpoint
 * keeps the origin it had here (see `endpointOrigin`).
 */
function endpointScope(
  endpoint: ManagedEndpoint,
  kind: 'aml' | 'key',
  source: UpstreamTokenSource<ManagedEndpoint>,
): ResolvedScope {
  return {
    cacheKey: endpointCacheKey(kind, endpoint.id),
    requiresKeyAccess: kind === 'key',
    fetch: {
      upstream: kind === 'key' ? 'keyVault' : 'amlToken',
      origin: endpointOrigin(endpoint),
      fetch: (signal) => source.getToken(endpoint, signal),
    },
  };
}

/** A failed registry read (the endpoint's, or the file's behind `fileEntryClash`) as the 503 it is answered with. */
function registryUnreachable(cause: unknown): DependencyUnavailableError {
  return new DependencyUnavailableError('endpointRegistry', 'The endpoint registry is not reachable.', {
    cause,
  });
}
