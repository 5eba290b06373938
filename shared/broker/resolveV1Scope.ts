import { withinTimeLimitGivingUp } from '../clock';
import type { ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import type { V1ServiceDescription } from '../v1/ModelManagementClient';
import { tokenRule } from '../v1/v1Rules';
import { classifyUpstreamError } from './classifyUpstreamError';
import { ScopeNotAllowedError, UpstreamUnavailableError, V1TokenRuleError } from './errors';
import { endpointCacheKey, endpointOrigin } from './scope';
import type { ResolvedScope } from './ScopeResolver';
import { MAX_RETRY_AFTER_SECONDS } from './TokenCache';
import type { UpstreamTokenSource } from './UpstreamToken';

/** Reads a v1 web service's auth flags (port; `ModelManagementClient` satisfies it). */
export interface V1ServiceLookup {
  /** @param abortSignal - the read, its request included, stops when it fires */
  describe(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<V1ServiceDescription>;
}

/** How {@link resolveV1TokenScope} reads a v1 service and its token. */
export interface V1ScopeReaders {
  services: V1ServiceLookup | undefined;
  source: UpstreamTokenSource<ManagedEndpoint> | undefined;
  /** Longest the service's flags may take to read before the read counts as failed (`timeout`). */
  timeLimitMs: number;
}

/** Seconds a client is asked to wait when the service's flags cannot be read (at least). */
const RETRY_AFTER_SECONDS = 5;

/**
 * Resolves the scope of a v1 web service registered with token auth: the v1 rules are checked first
 * from the registration (token auth only on AKS), then against the service's live flags (token auth
 * on, key auth off). A broken rule is a `V1TokenRuleError` (4xx naming it), cached like any refusal;
 * an unreadable service (the workspace region is down) is a 503 with `Retry-After` (5 s, or the
 * longer wait a throttling model-management API asks for, up to 60 s), and the resolver
 * keeps its last answer meanwhile, so cached tokens keep flowing.
 * @param endpoint - a `v1WebService` endpoint with auth mode `AMLToken`
 */
export async function resolveV1TokenScope(
  endpoint: ManagedEndpoint,
  { services, source, timeLimitMs }: V1ScopeReaders,
): Promise<ResolvedScope | ScopeNotAllowedError> {
  const registered = tokenRule(endpoint);
  if (registered) return new V1TokenRuleError(registered.code, registered.text);
  if (!services || !source) return new ScopeNotAllowedError('v1 service tokens are not configured.');
  let service: V1ServiceDescription;
  // Past the time limit the read is given up, not left running: its request would hold a socket to the
  // silent region until the transport's 30-s try limit, one per scope and TTL while the region is down.
  try {
    service = await withinTimeLimitGivingUp((signal) => services.describe(endpoint, signal), timeLimitMs);
  } catch (error) {
    const failure = classifyUpstreamError('v1ServiceToken', error);
    if (failure.failure === 'notFound')
      return new ScopeNotAllowedError('The v1 web service was not found in its workspace.');
    // A throttled read (429) names its wait: clients told 5 s would keep the region throttled.
    const asked = failure.upstreamRetryAfterSeconds ?? 0;
    const retryAfter = Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(RETRY_AFTER_SECONDS, Math.ceil(asked)));
    throw new UpstreamUnavailableError('v1ServiceToken', failure.failure, retryAfter, { cause: failure });
  }
  const rule = tokenRule(endpoint, service);
  if (rule) return new V1TokenRuleError(rule.code, rule.text);
  return {
    cacheKey: endpointCacheKey('v1', endpoint.id),
    requiresKeyAccess: false,
    fetch: {
      upstream: 'v1ServiceToken',
      origin: endpointOrigin(endpoint),
      ...(endpoint.v1 ? { region: endpoint.v1.region } : {}),
      fetch: (signal) => source.getToken(endpoint, signal),
    },
  };
}
