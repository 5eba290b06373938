import type { Clock } from '../clock';
import type { ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import { DependencyUnavailableError } from '../errors';
import type { Logger } from '../logging';
import { ScopeNotAllowedError } from './errors';
import { LruMap } from './LruMap';
import { ML_RESOURCE, type ParsedScope } from './scope';
import type { TokenFetch } from './TokenCache';
import type { UpstreamTokenSource } from './UpstreamToken';

/** The broker's view of the endpoint registry (the rotation module's registry satisfies it). */
export interface BrokerEndpointLookup {
  /** The endpoint, or undefined when none has that id. */
  get(id: string): Promise<ManagedEndpoint | undefined>;
}

/** The upstream adapters, one per upstream class. */
export interface UpstreamSources {
  amlToken: UpstreamTokenSource<ManagedEndpoint>;
  managedIdentity: UpstreamTokenSource<string>;
  keyVault: UpstreamTokenSource<ManagedEndpoint>;
}

/** Where a scope's tokens come from; built once per scope and reused by every request. */
export interface ResolvedScope {
  /** Token cache key: `aml:<id>`, `mi:<resource>` (AADToken endpoints share `mi:https://ml.azure.com`), `key:<id>`. */
  readonly cacheKey: string;
  readonly fetch: TokenFetch;
  /** The credential is an endpoint key: the client must have opted in to key access. */
  readonly requiresKeyAccess: boolean;
}

interface Slot {
  resolved: ResolvedScope | ScopeNotAllowedError;
  resolvedAtMs: number;
}

/** Options of {@link ScopeResolver}. */
export interface ScopeResolverOptions {
  endpoints: BrokerEndpointLookup;
  sources: UpstreamSources;
  clock: Clock;
  logger: Logger;
  /** How long an endpoint lookup is reused. @default 30000 */
  ttlMs?: number;
  /** Scopes remembered at once. @default 10000 */
  maxEntries?: number;
}

/**
 * Maps a scope to its upstream: resource URIs to a managed-identity token for that resource; endpoint
 * ids by auth mode: `AMLToken` online endpoints to ARM's endpoint token, `AADToken` endpoints to a
 * managed-identity token for `https://ml.azure.com`, `Key` endpoints (only with `brokerKeyAccess`) to
 * the current key in Key Vault. Unknown, disabled and retired endpoints are refused. Lookups are cached
 * for `ttlMs` (also negative ones), with one registry read per scope in flight at a time; an endpoint
 * registry outage keeps using the last answer.
 */
export class ScopeResolver {
  private readonly slots: LruMap<string, Slot>;
  private readonly loading = new Map<string, Promise<Slot>>();
  private readonly ttlMs: number;

  constructor(private readonly options: ScopeResolverOptions) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.slots = new LruMap(options.maxEntries ?? 10_000);
  }

  /**
   * Resolves a parsed scope.
   * @throws ScopeNotAllowedError when it names nothing the broker serves
   */
  async resolve(scope: ParsedScope): Promise<ResolvedScope> {
    let slot = this.slots.get(scope.value);
    if (!slot || this.options.clock.now() - slot.resolvedAtMs >= this.ttlMs) {
      slot = await this.reload(scope, slot);
    }
    if (slot.resolved instanceof ScopeNotAllowedError) throw slot.resolved;
    return slot.resolved;
  }

  /** Forgets cached resolutions (after an endpoint changed). */
  invalidate(scopeValue?: string): void {
    if (scopeValue === undefined) {
      this.slots.clear();
      this.loading.clear();
    } else {
      this.slots.delete(scopeValue);
      this.loading.delete(scopeValue);
    }
  }

  /**
   * One registry read per scope at a time: the requests that arrive while it runs (hundreds per
   * second under load, each time the TTL runs out) share it instead of each reading the registry.
   * A failed read keeps the last answer when there is one.
   */
  private reload(scope: ParsedScope, previous: Slot | undefined): Promise<Slot> {
    const running = this.loading.get(scope.value);
    if (running) return running;
    const startedMs = this.options.clock.now();
    let pending: Promise<Slot> | undefined = undefined;
    pending = (async (): Promise<Slot> => {
      try {
        const slot = { resolved: await this.build(scope), resolvedAtMs: startedMs };
        // An invalidate() while the read ran makes its answer stale: keep it for these callers only.
        if (this.loading.get(scope.value) === pending) this.slots.set(scope.value, slot);
        return slot;
      } catch (error) {
        if (!previous) throw error;
        this.options.logger.warn('resolve => endpoint registry unavailable, using last answer', {
          scope: scope.value,
        });
        return previous;
      } finally {
        if (this.loading.get(scope.value) === pending) this.loading.delete(scope.value);
      }
    })();
    this.loading.set(scope.value, pending);
    return pending;
  }

  private async build(scope: ParsedScope): Promise<ResolvedScope | ScopeNotAllowedError> {
    if (scope.kind === 'resource') return this.resource(scope.value);
    let endpoint: ManagedEndpoint | undefined;
    try {
      endpoint = await this.options.endpoints.get(scope.value);
    } catch (error) {
      throw new DependencyUnavailableError('endpointRegistry', 'The endpoint registry is not reachable.', {
        cause: error,
      });
    }
    if (!endpoint || !endpoint.enabled || endpoint.retiredAt) {
      return new ScopeNotAllowedError('The scope names no endpoint the broker serves.');
    }
    const { sources } = this.options;
    switch (endpoint.authMode) {
      case 'AADToken':
        return this.resource(ML_RESOURCE);
      case 'AMLToken': {
        if (endpoint.kind !== 'onlineEndpoint') {
          return new ScopeNotAllowedError('Tokens are brokered for online endpoints only.');
        }
        const target = endpoint;
        return {
          cacheKey: `aml:${endpoint.id}`,
          requiresKeyAccess: false,
          fetch: { upstream: 'amlToken', fetch: () => sources.amlToken.getToken(target) },
        };
      }
      case 'Key': {
        if (!endpoint.brokerKeyAccess) {
          return new ScopeNotAllowedError('Key access is not enabled for this endpoint.');
        }
        const target = endpoint;
        return {
          cacheKey: `key:${endpoint.id}`,
          requiresKeyAccess: true,
          fetch: { upstream: 'keyVault', fetch: () => sources.keyVault.getToken(target) },
        };
      }
    }
  }

  private resource(resource: string): ResolvedScope {
    const source = this.options.sources.managedIdentity;
    return {
      cacheKey: `mi:${resource}`,
      requiresKeyAccess: false,
      fetch: { upstream: 'managedIdentity', fetch: () => source.getToken(resource) },
    };
  }
}
