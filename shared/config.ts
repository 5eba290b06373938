import { MSAL_RENEWAL_OFFSET_MS } from './broker/ManagedIdentityTokenSource';
import { MAX_PERIOD_HOURS } from './endpoints/validateEndpoint';
import { ConfigError, type FieldIssue } from './errors';
import { NcrontabError, nextOccurrence } from './ncrontab';
import {
  boolSetting,
  intSetting,
  numberSetting,
  type SettingSpec,
  stringSetting,
  timeSpanSetting,
  urlSetting,
} from './settingSchema';

/**
 * What keeps the timer from running `expression`, if anything. The Functions host reads the schedule
 * itself and, on one it cannot run, fails the timer function alone: the app would start, answer and
 * report healthy, and never rotate.
 */
function scheduleProblem(expression: string): string | undefined {
  try {
    nextOccurrence(expression, new Date());
    return undefined;
  } catch (error) {
    if (error instanceof NcrontabError) return error.message;
    throw error;
  }
}

/**
 * What is wrong with a storage connection string, if anything: `Name=value` pairs naming the account or
 * its endpoints (or the emulator). Anything else reaches the Storage SDKs, which fail every call on it
 * (a TypeError from the Tables SDK). Never echoes the value: it may hold the account key.
 */
function connectionStringProblem(value: string): string | undefined {
  const names = value
    .split(';')
    .filter((part) => part.trim() !== '')
    .map((part) => (/^\s*([A-Za-z]+)\s*=/.exec(part)?.[1] ?? '').toLowerCase());
  const wellFormed = names.every((name) => name !== '');
  const namesStorage = names.some((name) =>
    ['accountname', 'usedevelopmentstorage', 'tableendpoint', 'queueendpoint'].includes(name),
  );
  return wellFormed && namesStorage
    ? undefined
    : 'must be a storage connection string (AccountName=…;AccountKey=…, or UseDevelopmentStorage=true); an account name alone belongs in AzureWebJobsStorage__accountName';
}

/**
 * Most `BROKER_MIN_TOKEN_LIFETIME_SECONDS`: MSAL, under `@azure/identity`, treats its cached managed-identity
 * token as expired only 300 s before its end (`DEFAULT_TOKEN_RENEWAL_OFFSET_SEC`), and refreshes it earlier
 * only when it lived over 2 h (`refresh_in`). Asking for more lifetime than that, the broker would get the
 * same token back and refuse it (`tooShortLived`) until MSAL renews it. At exactly that much, the
 * managed-identity source waits out MSAL's renewal (`ManagedIdentityTokenSource`), by the same constant.
 */
const MAX_MIN_TOKEN_LIFETIME_SECONDS = MSAL_RENEWAL_OFFSET_MS / 1000;

/**
 * Azure Storage's queue naming rule, leaving room for `-poison`: the Functions queues extension moves a
 * failing message to `<queue>-poison` only when that name is valid and the queue is not a poison queue
 * itself; otherwise the message is never moved and comes back every 10 minutes for as long as it lives.
 */
const QUEUE_NAME = {
  pattern: /^(?!.*-poison$)[a-z0-9](?!.*--)[a-z0-9-]{1,54}[a-z0-9]$/,
  patternText:
    'a storage queue name of 3-56 lowercase letters, digits and single hyphens (room for the "-poison" suffix), not ending in "-poison"',
};

/** What a rotation run keeps of the host's functionTimeout besides its test step (see crossSettingIssues). */
const TEST_STEP_RESERVE_SECONDS = 2 * 60;

/**
 * Every setting the app reads, in one list. This is the only place that knows environment variable
 * names; `loadConfig` is the only function that reads `process.env`. The README settings
 * table, `local.settings.sample.json` and the infra check are generated from / checked against it.
 */
export const SETTINGS = {
  storageConnection: stringSetting(
    'AzureWebJobsStorage',
    'Storage connection string for tables and queues (local stack / shared-key). Leave empty in Azure and set AzureWebJobsStorage__accountName instead.',
    { check: connectionStringProblem },
  ),
  storageAccountName: stringSetting(
    'AzureWebJobsStorage__accountName',
    'Storage account name for identity-based access (tables and queues via the managed identity).',
    { pattern: /^[a-z0-9]{3,24}$/, patternText: '3-24 lowercase letters and digits' },
  ),
  keyVaultUrl: urlSetting(
    'KEY_VAULT_URL',
    "Key Vault that holds the endpoint keys: the vault's address alone, e.g. https://myvault.vault.azure.net (no path; a secret's URI is refused).",
    {
      required: true,
      // SecretClient puts its paths after whatever the URL holds: under a secret's URI every call answers 404.
      pathRefusal:
        "must be the vault's address alone, such as https://myvault.vault.azure.net, without a path (a secret's URI names a secret, not the vault)",
    },
  ),
  keyVaultDisableChallengeResourceVerification: boolSetting(
    'KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION',
    'Skip the Key Vault challenge host check. Only for the local stand-in on a loopback address; never in Azure.',
    { default: false },
  ),
  armEndpoint: urlSetting(
    'ARM_ENDPOINT',
    'Azure Resource Manager endpoint. The public cloud only (or a local stand-in): tokens are asked for https://management.azure.com and identity-based storage is reached at *.core.windows.net.',
    {
      default: 'https://management.azure.com',
    },
  ),
  mlApiVersion: stringSetting(
    'ML_API_VERSION',
    'api-version used for Microsoft.MachineLearningServices calls. Serverless endpoints need 2024-04-01 or later (previews: 2023-08-01-preview or later); ARM refuses an older one with 400 NoRegisteredProviderFound.',
    {
      default: '2025-12-01',
      pattern: /^\d{4}-\d{2}-\d{2}(-preview)?$/,
      patternText: 'a date such as 2025-12-01',
    },
  ),
  v1MmsHostTemplate: stringSetting(
    'V1_MMS_HOST_TEMPLATE',
    "Host of the Azure ML SDK v1 model-management API for v1 web services; {region} becomes the endpoint's v1.region. The default follows the workspace discoveryUrl pattern (exact derivation unconfirmed; see docs/v1-web-services.md).",
    {
      default: 'https://{region}.api.azureml.ms',
      pattern: /^https:\/\/[^\s?#]+$/,
      patternText: 'an https URL without query, such as https://{region}.api.azureml.ms',
    },
  ),
  managedIdentityClientId: stringSetting(
    'AZURE_CLIENT_ID',
    'Client id (a GUID) of a user-assigned managed identity, not its name or resource id; empty selects the system-assigned identity.',
    // Its name or resource id, easy to paste instead, would be accepted here and then refused by the
    // identity endpoint on every token request.
    {
      pattern: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
      patternText:
        "a client id (a GUID such as 00000000-0000-0000-0000-000000000000), not the identity's name or resource id",
    },
  ),
  tablePrefix: stringSetting('TABLE_PREFIX', 'Prefix of the Table storage tables the app creates.', {
    default: 'amlcb',
    pattern: /^[A-Za-z][A-Za-z0-9]{0,40}$/,
    patternText: 'letters and digits, starting with a letter',
  }),
  rotationSchedule: stringSetting(
    'ROTATION_SCHEDULE',
    'NCRONTAB (six fields: second minute hour day month day-of-week, day-of-week 0-6 with 0 = Sunday, or names) of the timer that looks for due endpoints.',
    {
      default: '0 */15 * * * *',
      pattern: /^\S+(\s+\S+){5}$/,
      patternText: 'six NCRONTAB fields: second minute hour day month day-of-week',
      check: scheduleProblem,
    },
  ),
  rotationQueue: stringSetting(
    'ROTATION_QUEUE',
    'Storage queue that carries one rotation job per endpoint (3-56 characters, leaving room for its -poison queue).',
    {
      default: 'rotation-jobs',
      ...QUEUE_NAME,
    },
  ),
  rotationPeriodHours: numberSetting(
    'ROTATION_PERIOD_HOURS',
    'Default time between rotations of an endpoint (hours; fractions allowed).',
    {
      default: 720,
      min: 0.01,
      max: MAX_PERIOD_HOURS,
    },
  ),
  rotationGraceHours: numberSetting(
    'ROTATION_GRACE_HOURS',
    'Default time a slot that stopped being current is left untouched (consumers re-read Key Vault every 24 h).',
    { default: 25, min: 0, max: MAX_PERIOD_HOURS },
  ),
  rotationMinGraceHours: numberSetting(
    'ROTATION_MIN_GRACE_HOURS',
    'Smallest grace period an endpoint may be registered with.',
    { default: 24, min: 0, max: MAX_PERIOD_HOURS },
  ),
  rotationLeaseSeconds: intSetting(
    'ROTATION_LEASE_SECONDS',
    'How long a rotation lease lasts before another run may take over.',
    {
      default: 600,
      min: 10,
    },
  ),
  rotationTestTimeoutSeconds: intSetting(
    'ROTATION_TEST_TIMEOUT_SECONDS',
    "How long the test step keeps trying the new key at the scoring URI before failing the rotation (at most 480: host.json's 10-minute functionTimeout less 2 minutes, or less if AzureFunctionsJobHost__functionTimeout lowers it). The window counts from the end of the set step: a run has the functionTimeout less a minute (9 minutes), and when its regenerate and ARM's write gate (up to a minute for each of its two writes) left too little of it, it stops in the test step with ROTATION_OUT_OF_TIME and the next delivery tests only for what is left of the window (at least 30 s more, as any run resumed past it). A POST …/rotate asked after the window opened (after NEW_KEY_NOT_ACCEPTED, once the scoring deployment is mended) opens a whole window again.",
    { default: 300, min: 1, max: 480 },
  ),
  functionTimeout: timeSpanSetting(
    'AzureFunctionsJobHost__functionTimeout',
    "Overrides host.json's functionTimeout (00:10:00), as the Functions host reads it in Azure (and the local host too): how long one invocation may run, hh:mm:ss, at least 00:02:00, or -1 for no limit. A rotation run stops itself a minute before it (with -1, a minute before host.json's), and ROTATION_TEST_TIMEOUT_SECONDS may be at most it less 2 minutes. Empty: host.json's.",
    { min: '00:02:00' },
  ),
  endpointsFile: stringSetting(
    'ENDPOINTS_FILE',
    'Optional JSON file declaring endpoints (merged into the registry at start, read-only). An entry wins over a ' +
      'table registration of its Azure ML endpoint or Key Vault secret under another id, which is then not rotated ' +
      '(nor, for its secret, its key brokered).',
  ),
  brokerSecretPepper: stringSetting(
    'BROKER_SECRET_PEPPER',
    'Server-side pepper for broker client secret hashes (at least 32 characters; Key Vault reference in Azure).',
    { required: true, secret: true, pattern: /^.{32,}$/s, patternText: 'at least 32 characters' },
  ),
  brokerMinTokenLifetimeSeconds: intSetting(
    'BROKER_MIN_TOKEN_LIFETIME_SECONDS',
    'Never hand out a token with less lifetime left than this (at most 300: the identity library keeps handing out its cached managed-identity token until 300 s before it expires, and a token of 2 h or less gets no earlier refresh, so a higher value would refuse such tokens near their end until the library renewed them; at that point the broker waits the second the library takes to renew, and requests for the scope wait with it).',
    { default: 300, min: 0, max: MAX_MIN_TOKEN_LIFETIME_SECONDS },
  ),
  brokerRefreshFraction: numberSetting(
    'BROKER_REFRESH_FRACTION',
    'Refresh a cached token after this fraction of its lifetime when the issuer gives no refresh hint.',
    { default: 0.5, min: 0.1, max: 0.95 },
  ),
  brokerCacheMaxEntries: intSetting(
    'BROKER_CACHE_MAX_ENTRIES',
    'Most tokens kept in the per-process cache.',
    {
      default: 1000,
      min: 1,
    },
  ),
  brokerDefaultRateLimitPerMinute: intSetting(
    'BROKER_DEFAULT_RATE_LIMIT_PER_MINUTE',
    'Token requests per minute allowed to a broker client that has no limit of its own.',
    { default: 600, min: 1 },
  ),
  brokerClientColdReadsPerSecond: intSetting(
    'BROKER_CLIENT_COLD_READS_PER_SECOND',
    'Client registry reads per second (bursts of ten times as many) each instance makes for client ids it holds no client record of; beyond them token requests from such ids get 503 with Retry-After (docs/security.md).',
    { default: 20, min: 1 },
  ),
  eventGridTopicEndpoint: urlSetting(
    'EVENT_GRID_TOPIC_ENDPOINT',
    'Event Grid topic (https) that receives KeyRotated/RotationFailed/DriftDetected CloudEvents; empty sends nothing.',
  ),
  eventGridTopicKey: stringSetting(
    'EVENT_GRID_TOPIC_KEY',
    'Access key of that topic (refused without EVENT_GRID_TOPIC_ENDPOINT); empty uses the managed identity.',
    {
      secret: true,
    },
  ),
  eventsRetryQueue: stringSetting(
    'EVENTS_RETRY_QUEUE',
    'Storage queue where a CloudEvent whose publish failed waits for its next try (retried for a day; 3-56 characters, leaving room for its -poison queue).',
    {
      default: 'event-publish-retries',
      ...QUEUE_NAME,
    },
  ),
  autoRegisterEnabled: boolSetting(
    'AUTO_REGISTER_ENABLED',
    'Register new Key endpoints for rotation from Azure ML / resource events.',
    { default: false },
  ),
  autoRegisterTag: stringSetting(
    'AUTO_REGISTER_TAG',
    'Which endpoints are auto-registered: comma-separated entries, each tag, tag=value or name:PATTERN (endpoint name, * wildcard); any match registers (docs/events.md).',
    { default: 'aml-credential-broker=rotate' },
  ),
  adminPublicBaseUrl: urlSetting(
    'ADMIN_PUBLIC_BASE_URL',
    "The URL callers use for this app's /api routes when a gateway (API Management, Front Door) fronts it, such as https://apim.contoso.com/aml-broker; the admin API's nextLink and Location answers are built on it. Empty: on the URL each request reached the app at.",
  ),
  appInsightsConnectionString: stringSetting(
    'APPLICATIONINSIGHTS_CONNECTION_STRING',
    'Application Insights connection string; telemetry is off when empty.',
  ),
} as const;

/** Typed, validated and frozen configuration of the app. */
export interface AppConfig {
  readonly storage:
    | { readonly kind: 'connectionString'; readonly connectionString: string }
    | { readonly kind: 'identity'; readonly accountName: string };
  readonly keyVault: { readonly url: string; readonly disableChallengeResourceVerification: boolean };
  readonly arm: { readonly endpoint: string; readonly mlApiVersion: string };
  /** Azure ML SDK v1 web services. */
  readonly v1: { readonly mmsHostTemplate: string };
  readonly identity: { readonly clientId?: string };
  readonly tables: {
    readonly endpoints: string;
    readonly journal: string;
    readonly clients: string;
    readonly audit: string;
    readonly events: string;
  };
  readonly rotation: {
    readonly schedule: string;
    readonly queue: string;
    readonly defaultPeriodHours: number;
    readonly defaultGraceHours: number;
    readonly minGraceHours: number;
    readonly leaseSeconds: number;
    readonly testTimeoutSeconds: number;
    /**
     * How long the host lets one invocation run, when `AzureFunctionsJobHost__functionTimeout` sets a limit
     * over host.json's (absent: host.json's, `FUNCTION_TIMEOUT_MS`, which also stands for no limit).
     */
    readonly functionTimeoutMs?: number;
    readonly endpointsFile?: string;
  };
  readonly broker: {
    readonly secretPepper: string;
    readonly minTokenLifetimeSeconds: number;
    readonly refreshFraction: number;
    readonly cacheMaxEntries: number;
    readonly defaultRateLimitPerMinute: number;
    readonly clientColdReadsPerSecond: number;
  };
  readonly events: {
    readonly topicEndpoint?: string;
    readonly topicKey?: string;
    readonly retryQueue: string;
    readonly autoRegisterEnabled: boolean;
    readonly autoRegisterTag: string;
  };
  readonly admin: { readonly publicBaseUrl?: string };
  readonly telemetry: { readonly connectionString?: string };
}

type Env = Record<string, string | undefined>;
type Parsed = { [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K] extends SettingSpec<infer T> ? T : never };

/**
 * Reads and validates every setting once. Throws `ConfigError` naming each bad setting.
 * @param env - the environment to read; defaults to `process.env` (tests pass a plain object)
 * @example const config = loadConfig({ KEY_VAULT_URL: 'https://v.vault.azure.net', ... })
 */
export function loadConfig(env: Env = process.env): AppConfig {
  const issues: FieldIssue[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [string, SettingSpec<unknown>][]) {
    const result = setting.parse(env[setting.name]);
    if (result.ok) values[key] = result.value;
    else issues.push({ field: setting.name, message: result.message });
  }
  // A setting that failed to parse has no value here, whatever `Parsed` says: the checks test for that.
  const v = values as Parsed;
  issues.push(...crossSettingIssues(v, issues));
  if (issues.length > 0) throw new ConfigError(issues);
  return toAppConfig(v);
}

/**
 * The rules no single setting's spec can hold: between settings (one storage setting at least, the grace
 * period within the rotation period, a topic key only with a topic) and on the vault's parsed URL (its
 * address alone; the challenge check skipped only on a loopback address). `named` are the issues found
 * so far, so a setting already named is not named again.
 */
function crossSettingIssues(v: Parsed, named: readonly FieldIssue[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const storageNames = [SETTINGS.storageConnection.name, SETTINGS.storageAccountName.name];
  // One that is set but malformed is in `named` already.
  if (!v.storageConnection && !v.storageAccountName && !named.some((i) => storageNames.includes(i.field))) {
    issues.push({
      field: SETTINGS.storageConnection.name,
      message: `or ${SETTINGS.storageAccountName.name} is required (where the app keeps its tables and queues)`,
    });
  }
  if (
    v.rotationGraceHours !== undefined &&
    v.rotationMinGraceHours !== undefined &&
    v.rotationGraceHours < v.rotationMinGraceHours
  ) {
    issues.push({
      field: SETTINGS.rotationGraceHours.name,
      message: `must be at least ROTATION_MIN_GRACE_HOURS (${v.rotationMinGraceHours})`,
    });
  }
  if (
    v.rotationPeriodHours !== undefined &&
    v.rotationGraceHours !== undefined &&
    v.rotationPeriodHours <= v.rotationGraceHours
  ) {
    issues.push({
      field: SETTINGS.rotationPeriodHours.name,
      message: `must be longer than ROTATION_GRACE_HOURS (${v.rotationGraceHours})`,
    });
  }
  // As host.json's 10 minutes leave the test step 8 (ROTATION_TEST_TIMEOUT_SECONDS' own bound): a run also
  // waits up to a minute at ARM's write gate for each of its two writes. A test step the run's budget cut
  // resumes on the next delivery with what is left of its window (it counts from the set step), so a key
  // never accepted fails NEW_KEY_NOT_ACCEPTED within about two runs; the bound lets the run that set the key
  // test for the whole window when ARM is neither throttling nor slow to regenerate.
  const functionTimeoutMs = functionTimeoutLimitMs(v);
  const allowed = functionTimeoutMs === undefined ? undefined : Math.floor(functionTimeoutMs / 1000);
  if (
    allowed !== undefined &&
    v.rotationTestTimeoutSeconds !== undefined &&
    v.rotationTestTimeoutSeconds > allowed - TEST_STEP_RESERVE_SECONDS
  ) {
    issues.push({
      field: SETTINGS.rotationTestTimeoutSeconds.name,
      message: `must be at most ${allowed - TEST_STEP_RESERVE_SECONDS} while ${SETTINGS.functionTimeout.name} allows an invocation ${allowed} s`,
    });
  }
  if (v.eventGridTopicKey && !v.eventGridTopicEndpoint) {
    issues.push({
      field: SETTINGS.eventGridTopicEndpoint.name,
      message: `is required when ${SETTINGS.eventGridTopicKey.name} is set (without it no event is sent)`,
    });
  }
  // Without the check a host that answers as the vault can ask the app's identity for a token for any
  // resource; the stand-in needs it off only because it runs on a loopback address.
  if (
    v.keyVaultDisableChallengeResourceVerification &&
    v.keyVaultUrl !== undefined &&
    !isLoopbackUrl(v.keyVaultUrl)
  ) {
    issues.push({
      field: SETTINGS.keyVaultDisableChallengeResourceVerification.name,
      message: `may be true only for a Key Vault stand-in on a loopback address, not for ${new URL(v.keyVaultUrl).host}`,
    });
  }
  return issues;
}

/**
 * The limit `AzureFunctionsJobHost__functionTimeout` sets on an invocation; undefined when it sets none
 * (absent, or -1: a run keeps to host.json's).
 */
function functionTimeoutLimitMs(v: Parsed): number | undefined {
  return v.functionTimeout !== undefined && Number.isFinite(v.functionTimeout)
    ? v.functionTimeout
    : undefined;
}

/** The validated settings as the app's typed, frozen configuration. */
function toAppConfig(v: Parsed): AppConfig {
  const prefix = v.tablePrefix;
  const functionTimeoutMs = functionTimeoutLimitMs(v);
  return deepFreeze<AppConfig>({
    storage: v.storageConnection
      ? { kind: 'connectionString', connectionString: v.storageConnection }
      : { kind: 'identity', accountName: v.storageAccountName },
    keyVault: {
      url: v.keyVaultUrl,
      disableChallengeResourceVerification: v.keyVaultDisableChallengeResourceVerification,
    },
    arm: { endpoint: v.armEndpoint, mlApiVersion: v.mlApiVersion },
    v1: { mmsHostTemplate: v.v1MmsHostTemplate.replace(/\/+$/, '') },
    identity: v.managedIdentityClientId ? { clientId: v.managedIdentityClientId } : {},
    tables: {
      endpoints: `${prefix}Endpoints`,
      journal: `${prefix}RotationJournal`,
      clients: `${prefix}BrokerClients`,
      audit: `${prefix}BrokerAudit`,
      events: `${prefix}ProcessedEvents`,
    },
    rotation: {
      schedule: v.rotationSchedule,
      queue: v.rotationQueue,
      defaultPeriodHours: v.rotationPeriodHours,
      defaultGraceHours: v.rotationGraceHours,
      minGraceHours: v.rotationMinGraceHours,
      leaseSeconds: v.rotationLeaseSeconds,
      testTimeoutSeconds: v.rotationTestTimeoutSeconds,
      ...(functionTimeoutMs !== undefined ? { functionTimeoutMs } : {}),
      ...(v.endpointsFile ? { endpointsFile: v.endpointsFile } : {}),
    },
    broker: {
      secretPepper: v.brokerSecretPepper,
      minTokenLifetimeSeconds: v.brokerMinTokenLifetimeSeconds,
      refreshFraction: v.brokerRefreshFraction,
      cacheMaxEntries: v.brokerCacheMaxEntries,
      defaultRateLimitPerMinute: v.brokerDefaultRateLimitPerMinute,
      clientColdReadsPerSecond: v.brokerClientColdReadsPerSecond,
    },
    events: {
      ...(v.eventGridTopicEndpoint ? { topicEndpoint: v.eventGridTopicEndpoint } : {}),
      ...(v.eventGridTopicKey ? { topicKey: v.eventGridTopicKey } : {}),
      retryQueue: v.eventsRetryQueue,
      autoRegisterEnabled: v.autoRegisterEnabled,
      autoRegisterTag: v.autoRegisterTag,
    },
    admin: v.adminPublicBaseUrl ? { publicBaseUrl: v.adminPublicBaseUrl } : {},
    telemetry: v.appInsightsConnectionString ? { connectionString: v.appInsightsConnectionString } : {},
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Whether the URL names this machine (127.0.0.0/8, ::1 or localhost). */
function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}
