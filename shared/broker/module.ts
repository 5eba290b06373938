import { realSleep, systemClock } from '../clock';
import { createLogger, type LogSink } from '../logging';
import type { ModuleRoot } from '../services';
import { ModelManagementClient } from '../v1/ModelManagementClient';
import { AmlTokenProtocol } from './amlTokenProtocol';
import { ArmEndpointTokenSource } from './ArmEndpointTokenSource';
import type { AuditLog } from './AuditLog';
import type { BrokerClientRegistry } from './BrokerClient';
import { BrokerClientAdminService } from './BrokerClientAdminService';
import { ClientAuthenticator } from './ClientAuthenticator';
import { ColdReadBudget } from './ColdReadBudget';
import { KeyVaultKeySource } from './KeyVaultKeySource';
import { ManagedIdentityTokenSource } from './ManagedIdentityTokenSource';
import { MsiTokenProtocol } from './msiProtocol';
import { OAuthTokenProtocol } from './oauthProtocol';
import { RateLimiter } from './RateLimiter';
import type { V1ServiceLookup } from './resolveV1Scope';
import { ENDPOINT_TOKEN_KINDS, endpointCacheKey } from './scope';
import { type BrokerEndpointLookup, ScopeResolver, type UpstreamSources } from './ScopeResolver';
import { SecretHasher } from './SecretHasher';
import { TableAuditLog } from './TableAuditLog';
import { TableBatchInserts } from './TableBatchInserts';
import { TableBrokerClientRegistry } from './TableBrokerClientRegistry';
import { TokenBroker } from './TokenBroker';
import { TokenCache } from './TokenCache';
import { V1ServiceTokenSource } from './V1ServiceTokenSource';

export type { BrokerEndpointLookup } from './ScopeResolver';

/** What the broker offers the function layer (and the composition root). */
export interface BrokerModule {
  /** The vend operation behind all three protocols. */
  readonly broker: TokenBroker;
  /** `POST /api/oauth2/token`. */
  readonly oauth: OAuthTokenProtocol;
  /** `GET /api/msi/token`. */
  readonly msi: MsiTokenProtocol;
  /** `POST /api/endpoints/{id}/token`. */
  readonly amlToken: AmlTokenProtocol;
  /** `manage/clients` admin operations. */
  readonly admin: BrokerClientAdminService;
  readonly cache: TokenCache;
  readonly audit: AuditLog;
  /**
   * Forgets what the broker cached about an endpoint (its scope resolution and its token or key), so
   * the next request reads the registry and the upstream again. The composition root calls it after
   * each endpoint write in this process; other instances pick a change up within 30 s (resolution).
   */
  invalidateEndpoint(endpointId: string): void;
}

/** Dependencies of {@link createBrokerModule}; everything but `endpoints` defaults to the real adapter. */
export interface BrokerModuleDeps {
  /** The endpoint registry (the rotation module's `registry`). */
  endpoints: BrokerEndpointLookup;
  /** @default TableBrokerClientRegistry over `config.tables.clients` */
  clients?: BrokerClientRegistry;
  /** @default TableAuditLog over `config.tables.audit` (inserts batched by TableBatchInserts) */
  audit?: AuditLog;
  /** Upstream adapters to replace (tests, benchmarks). */
  sources?: Partial<UpstreamSources>;
  /** Reads v1 web services' auth flags. @default the model-management API of the service's region */
  v1Services?: V1ServiceLookup;
  /** Where log lines go. @default the console (the Functions host captures it) */
  logSink?: LogSink;
}

/**
 * Builds the token broker over the app's identity, ARM, the v1 model-management API, Key Vault and
 * Table storage. Clients are used lazily: nothing touches Azure until the first request that needs it.
 * @example const broker = createBrokerModule(services.root, { endpoints: rotationModule.registry });
 */
export function createBrokerModule(root: ModuleRoot, deps: BrokerModuleDeps): BrokerModule {
  const { config, clock, telemetry, clients } = root;
  const logger = (component: string) => createLogger(component, deps.logSink);
  const hasher = new SecretHasher(config.broker.secretPepper);
  const registry =
    deps.clients ??
    new TableBrokerClientRegistry({
      table: clients.table(config.tables.clients),
      logger: logger('ClientRegistry'),
    });
  const audit =
    deps.audit ??
    new TableAuditLog({
      table: new TableBatchInserts(clients.table(config.tables.audit), clients.httpClient),
      logger: logger('BrokerAudit'),
      telemetry,
    });
  // One attempt per call: the cache rests after a failure and keeps serving, so retries would only
  // delay the 503 a client gets while a workspace region is down.
  const mms = new ModelManagementClient({
    sender: { sendRequest: (request) => clients.modelManagement.sendRequest(request) },
    hostTemplate: config.v1.mmsHostTemplate,
    sleep: realSleep,
  });
  const sources: UpstreamSources = {
    amlToken:
      deps.sources?.amlToken ??
      new ArmEndpointTokenSource({ onlineEndpoints: (sub) => clients.machineLearning(sub).onlineEndpoints }),
    managedIdentity:
      deps.sources?.managedIdentity ??
      new ManagedIdentityTokenSource({
        credential: { getToken: (...args) => clients.credential.getToken(...args) },
        // MSAL's cache judges its token by the system clock, whatever clock the broker is given.
        clock: systemClock,
        sleep: realSleep,
      }),
    keyVault:
      deps.sources?.keyVault ??
      new KeyVaultKeySource({
        secrets: { getSecret: (...args) => clients.secrets.getSecret(...args) },
        clock,
      }),
    v1Token: deps.sources?.v1Token ?? new V1ServiceTokenSource(mms),
  };
  const cache = new TokenCache({
    clock,
    telemetry,
    logger: logger('TokenCache'),
    minLifetimeSeconds: config.broker.minTokenLifetimeSeconds,
    refreshFraction: config.broker.refreshFraction,
    maxEntries: config.broker.cacheMaxEntries,
  });
  const authenticator = new ClientAuthenticator({
    registry,
    hasher,
    clock,
    logger: logger('ClientAuthenticator'),
    defaultRateLimitPerMinute: config.broker.defaultRateLimitPerMinute,
    coldReads: new ColdReadBudget({ perSecond: config.broker.clientColdReadsPerSecond }),
  });
  const rateLimiter = new RateLimiter();
  const resolver = new ScopeResolver({
    endpoints: deps.endpoints,
    sources,
    v1Services: deps.v1Services ?? mms,
    clock,
    logger: logger('ScopeResolver'),
  });
  const broker = new TokenBroker({
    authenticator,
    rateLimiter,
    resolver,
    cache,
    audit,
    telemetry,
    clock,
    logger: logger('TokenBroker'),
  });
  const admin = new BrokerClientAdminService({
    registry,
    hasher,
    clock,
    logger: logger('BrokerClientAdmin'),
    onChange: (id) => {
      authenticator.invalidate(id);
      rateLimiter.forget(id);
    },
  });
  return {
    broker,
    oauth: new OAuthTokenProtocol({ broker, clock, logger: logger('OAuthToken') }),
    msi: new MsiTokenProtocol({ broker, clock, logger: logger('MsiToken') }),
    amlToken: new AmlTokenProtocol({ broker, clock, logger: logger('AmlToken') }),
    admin,
    cache,
    audit,
    invalidateEndpoint: (endpointId) => {
      resolver.invalidate(endpointId);
      for (const kind of ENDPOINT_TOKEN_KINDS) cache.invalidate(endpointCacheKey(kind, endpointId));
    },
  };
}
