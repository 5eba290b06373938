import { type FieldIssue, ValidationError } from '../errors';
import { isObject } from '../isObject';
import { jsonStringLength, TABLE_STRING_MAX_CHARS } from '../tableLimits';
import {
  ARM_FIELDS,
  type ArmCoordinates,
  AUTH_MODES,
  type AuthMode,
  ENDPOINT_KINDS,
  type EndpointKind,
  isKnownAuthMode,
  isKnownKind,
  type ManagedEndpoint,
  type ScoringProbeSpec,
  secretIdentity,
} from './ManagedEndpoint';
import { validateV1Service } from './validateV1Service';

/** Rotation defaults and limits an endpoint is validated against (from `AppConfig.rotation`). */
export interface EndpointRules {
  readonly defaultPeriodHours: number;
  readonly defaultGraceHours: number;
  readonly minGraceHours: number;
  /**
   * The broker's minimum token lifetime (`BROKER_MIN_TOKEN_LIFETIME_SECONDS`): a brokered key is promised
   * for its grace period only, so `brokerKeyAccess` needs a longer grace period. Omit to skip the check.
   */
  readonly brokerMinLifetimeSeconds?: number;
}

/** The probe used when none is given: POST `{}` to the scoring URI; any status but 401/403 proves the key. */
export const DEFAULT_PROBE: ScoringProbeSpec = {
  method: 'POST',
  path: '',
  body: '{}',
  acceptedStatuses: [200, 400, 404, 415, 422, 424],
};

/**
 * The registry stores a whole endpoint as JSON in one Table storage property (`TableEndpointRegistry`),
 * which holds TABLE_STRING_MAX_CHARS (32,768) characters. Every field but the probe's is short by its
 * pattern or is written by the app (under 1,200 characters together, property names included); the
 * path takes at most 6 × 2,000 once JSON-escaped (a control character becomes `\u00XX`) and the
 * statuses 100 × 4. The body is counted as stored, escaped, and gets 16,384 of the 19,000 or more left,
 * so the largest endpoint accepted fits (test/integration/endpoints.tableRegistry.test.ts stores it).
 */
const MAX_PROBE_PATH = 2000;
const MAX_PROBE_STATUSES = 100;
export const MAX_PROBE_BODY_STORED = 16 * 1024;

/**
 * Longest rotation or grace period: ten years. Longer periods are no rotation at all, and huge ones
 * (1e300) made due times and secret expiries that are no valid date (RangeError on the status API).
 */
export const MAX_PERIOD_HOURS = 87_600;

const PENDING_SUFFIX = '-pending';
const ID = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
/** The endpoint id rule in words, as errors name it (the admin API's and the Azure ML token route's). */
export const ENDPOINT_ID_RULE =
  '3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit';
const SECRET_NAME = /^[0-9a-zA-Z-]+$/;
const WORKSPACE = /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$/;
const ARM_NAME = /^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$/;
/** A v1 web service name as azureml-core deploys one (`webservice_name_validation` in azureml-core). */
const V1_SERVICE_NAME = /^[a-z][-a-z0-9]{1,30}[a-z0-9]$/;
const RESOURCE_GROUP = /^[-\w._()]{1,90}$/;
const SUBSCRIPTION = /^[0-9a-zA-Z-]{1,64}$/;
const FIELDS = new Set([
  'id',
  'kind',
  'arm',
  'authMode',
  'secretName',
  'rotationPeriodHours',
  'gracePeriodHours',
  'probe',
  'v1',
  'brokerKeyAccess',
  'enabled',
  'retiredAt',
  'reinstatedAt',
  'createdAt',
  'updatedAt',
]);

const ARM_FIELD_SET: ReadonlySet<string> = new Set(ARM_FIELDS);
const PROBE_FIELDS = new Set(['method', 'path', 'body', 'acceptedStatuses']);

type Raw = Record<string, unknown>;

/**
 * True for a well-formed endpoint id. Anything else cannot be registered, so callers answer "not found"
 * without asking storage, which refuses some such keys (`a/b`) with a 500 of its own.
 */
export function isEndpointId(value: unknown): value is string {
  return typeof value === 'string' && fitsEndpointIdRule(value);
}

/**
 * The same test for a string, without narrowing it: the broker's scope parse reads an id that fails
 * it as something else (a resource URI), which a `value is string` guard would narrow to `never`.
 */
export function fitsEndpointIdRule(id: string): boolean {
  return ID.test(id) && !id.includes('--');
}

/**
 * A stored endpoint split into the fields this version knows and those it does not: fields a newer
 * version stored (deployed beside this one during a rolling deployment), which an update carries over
 * unchecked and unchanged instead of refusing them or dropping them.
 */
export function splitStoredFields(stored: ManagedEndpoint): {
  known: Raw;
  other: Raw;
} {
  const known: Raw = {};
  const other: Raw = {};
  for (const [key, value] of Object.entries(stored)) (FIELDS.has(key) ? known : other)[key] = value;
  return { known, other };
}

/** Longest main secret name: Key Vault allows 127 characters, and the pending secret appends a suffix. */
const MAX_SECRET_NAME = 127 - PENDING_SUFFIX.length;

/** True when `value` can be an endpoint's main secret name (Key Vault's name rules, room for the suffix). */
export function isSecretName(value: unknown): value is string {
  return typeof value === 'string' && SECRET_NAME.test(value) && value.length <= MAX_SECRET_NAME;
}

/**
 * Validates registration input (API body, ENDPOINTS_FILE entry, or an update merged over the stored
 * endpoint) and returns the complete endpoint. Every bad field is named at once in a `ValidationError`.
 * @param input - untrusted JSON value
 * @param rules - defaults and the minimum grace period
 * @param now - ISO time used for createdAt/updatedAt when absent
 */
export function validateEndpoint(input: unknown, rules: EndpointRules, now: string): ManagedEndpoint {
  const issues: FieldIssue[] = [];
  const bad: Bad = (field, message) => void issues.push({ field, message });
  if (!isObject(input)) throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
  for (const key of Object.keys(input)) if (!FIELDS.has(key)) bad(key, 'is not a known field');

  const id = input.id;
  if (!isEndpointId(id)) bad('id', ENDPOINT_ID_RULE);
  const kind = input.kind ?? 'onlineEndpoint';
  if (!isKnownKind(kind)) bad('kind', `one of ${ENDPOINT_KINDS.join(', ')}`);
  const authMode = input.authMode ?? 'Key';
  if (!isKnownAuthMode(authMode)) bad('authMode', `one of ${AUTH_MODES.join(', ')}`);

  const arm = validateArm(input.arm, kind, bad);
  // Left out, the secret name is `<id>-key`, a valid name for every valid id: with the id refused above,
  // refusing that default as well would name a field the caller never sent.
  const secretName = input.secretName ?? (isEndpointId(id) ? `${id}-key` : undefined);
  if (secretName !== undefined) checkSecretName(secretName, bad);
  const period = input.rotationPeriodHours ?? rules.defaultPeriodHours;
  const grace = input.gracePeriodHours ?? rules.defaultGraceHours;
  const brokered = authMode === 'Key' && input.brokerKeyAccess === true;
  checkPeriods(period, grace, brokered, rules, bad);

  const probe = validateProbe(input.probe, bad);
  const v1 = validateV1Service(input.v1, kind, authMode, (i) => void issues.push(i));
  for (const flag of ['brokerKeyAccess', 'enabled'] as const)
    if (input[flag] !== undefined && typeof input[flag] !== 'boolean') bad(flag, 'true or false');
  for (const time of ['retiredAt', 'reinstatedAt', 'createdAt', 'updatedAt'] as const)
    if (
      input[time] !== undefined &&
      (typeof input[time] !== 'string' || Number.isNaN(Date.parse(input[time])))
    )
      bad(time, 'an ISO date-time');
  if (issues.length > 0) throw new ValidationError(issues);

  return {
    id: id as string,
    kind: kind as EndpointKind,
    arm,
    authMode: authMode as AuthMode,
    secretName: secretName as string,
    rotationPeriodHours: period as number,
    gracePeriodHours: grace as number,
    probe,
    ...(v1 ? { v1 } : {}),
    brokerKeyAccess: (input.brokerKeyAccess as boolean | undefined) ?? false,
    enabled: (input.enabled as boolean | undefined) ?? true,
    ...(typeof input.retiredAt === 'string' ? { retiredAt: input.retiredAt } : {}),
    ...(typeof input.reinstatedAt === 'string' ? { reinstatedAt: input.reinstatedAt } : {}),
    createdAt: (input.createdAt as string | undefined) ?? now,
    updatedAt: now,
  };
}

/** Reports a bad field with what it must be. */
type Bad = (field: string, message: string) => void;

/** The ARM coordinates as given; each bad or unknown one reported (`arm.<field>`). */
function validateArm(raw: unknown, kind: unknown, bad: Bad): ArmCoordinates {
  const arm = isObject(raw) ? raw : {};
  if (!isObject(raw)) bad('arm', 'an object with subscriptionId, resourceGroup, workspace and name');
  else {
    // Unknown keys are refused here and in probe as at the top level and in v1: a PATCH with a misspelt
    // field would otherwise answer 200 and keep the stored value.
    for (const key of Object.keys(arm))
      if (!ARM_FIELD_SET.has(key)) bad(`arm.${key}`, 'is not a known field');
    checkText(arm.subscriptionId, SUBSCRIPTION, 'arm.subscriptionId', 'a subscription id', bad);
    checkText(
      arm.resourceGroup,
      RESOURCE_GROUP,
      'arm.resourceGroup',
      'a resource group name (1-90 characters)',
      bad,
    );
    checkText(
      arm.workspace,
      WORKSPACE,
      'arm.workspace',
      'a workspace name (3-33 letters, digits, _ and -)',
      bad,
    );
    if (kind === 'v1WebService')
      checkText(
        arm.name,
        V1_SERVICE_NAME,
        'arm.name',
        'a v1 web service name (3-32 lowercase letters, digits and -, starting with a letter and ending with a letter or digit, as azureml-core requires)',
        bad,
      );
    else
      checkText(
        arm.name,
        ARM_NAME,
        'arm.name',
        'an endpoint name (letters, digits, - and _; up to 255)',
        bad,
      );
  }
  return {
    subscriptionId: arm.subscriptionId as string,
    resourceGroup: arm.resourceGroup as string,
    workspace: arm.workspace as string,
    name: arm.name as string,
  };
}

function checkSecretName(secretName: unknown, bad: Bad): void {
  if (!isSecretName(secretName))
    bad(
      'secretName',
      `1-${MAX_SECRET_NAME} letters, digits and hyphens (Key Vault rules; "${PENDING_SUFFIX}" is appended for the pending secret)`,
    );
  // Key Vault names ignore case, so "X-PENDING" would be the pending secret of the endpoint whose secret is "x".
  else if (secretIdentity(secretName).endsWith(PENDING_SUFFIX))
    bad('secretName', `must not end in "${PENDING_SUFFIX}": that name is the pending secret of another one`);
}

/**
 * Checks the rotation and grace periods, each alone and against each other, and, for an endpoint whose
 * key is `brokered`, the grace period against the broker's token lifetime.
 */
function checkPeriods(
  period: unknown,
  grace: unknown,
  brokered: boolean,
  rules: EndpointRules,
  bad: Bad,
): void {
  const periodOk = isPositive(period) && period <= MAX_PERIOD_HOURS;
  if (!periodOk)
    bad('rotationPeriodHours', `a positive number of hours, at most ${MAX_PERIOD_HOURS} (10 years)`);
  if (
    typeof grace !== 'number' ||
    !Number.isFinite(grace) ||
    grace < rules.minGraceHours ||
    grace > MAX_PERIOD_HOURS
  )
    bad(
      'gracePeriodHours',
      `a number of hours of at least ${rules.minGraceHours} (consumers re-read Key Vault only every 24 h) and at most ${MAX_PERIOD_HOURS} (10 years)`,
    );
  else if (periodOk && period <= grace)
    bad('rotationPeriodHours', `must be longer than gracePeriodHours (${grace})`);
  else if (
    brokered &&
    rules.brokerMinLifetimeSeconds !== undefined &&
    grace * 3600 <= rules.brokerMinLifetimeSeconds
  )
    bad(
      'brokerKeyAccess',
      `needs gracePeriodHours above BROKER_MIN_TOKEN_LIFETIME_SECONDS (${rules.brokerMinLifetimeSeconds} s): a brokered key is promised for the grace period only`,
    );
}

function validateProbe(raw: unknown, bad: Bad): ScoringProbeSpec {
  if (raw === undefined) return DEFAULT_PROBE;
  if (!isObject(raw)) {
    bad('probe', 'an object with method, path, body and acceptedStatuses');
    return DEFAULT_PROBE;
  }
  for (const key of Object.keys(raw)) if (!PROBE_FIELDS.has(key)) bad(`probe.${key}`, 'is not a known field');
  const method = raw.method ?? DEFAULT_PROBE.method;
  if (method !== 'POST' && method !== 'GET') bad('probe.method', 'POST or GET');
  const path = raw.path ?? DEFAULT_PROBE.path;
  if (typeof path !== 'string' || path.length > MAX_PROBE_PATH || (path !== '' && !/^[/?]/.test(path)))
    bad('probe.path', `empty, or a path starting with / or ? (up to ${MAX_PROBE_PATH} characters)`);
  const body = probeBodyText(raw.body);
  if (body === undefined)
    bad('probe.body', 'a string, or JSON nested shallowly enough to be written out (send it as a string)');
  else if (jsonStringLength(body) > MAX_PROBE_BODY_STORED)
    bad(
      'probe.body',
      `at most ${MAX_PROBE_BODY_STORED} characters as stored (JSON-escaped: a quote, backslash or line break counts 2, another control character 6), so the endpoint fits one Table storage property (${TABLE_STRING_MAX_CHARS} characters)`,
    );
  const statuses = raw.acceptedStatuses ?? DEFAULT_PROBE.acceptedStatuses;
  const okStatuses =
    Array.isArray(statuses) &&
    statuses.length > 0 &&
    statuses.length <= MAX_PROBE_STATUSES &&
    statuses.every((s) => Number.isInteger(s) && s >= 200 && s <= 599 && s !== 401 && s !== 403);
  if (!okStatuses)
    bad(
      'probe.acceptedStatuses',
      `a list of 1-${MAX_PROBE_STATUSES} HTTP statuses (200-599, not 401 or 403)`,
    );
  return {
    method: method as 'POST' | 'GET',
    path: path as string,
    body: body ?? DEFAULT_PROBE.body,
    acceptedStatuses: statuses as number[],
  };
}

/**
 * The probe body as sent: a string as is, any other JSON value written out. JSON nested a few thousand
 * deep (30 KB fits the request cap) is parsed but overflows the stack when written out again, so it is
 * undefined here and refused, rather than a RangeError answered with a 500.
 */
function probeBodyText(raw: unknown): string | undefined {
  if (raw === undefined) return DEFAULT_PROBE.body;
  if (typeof raw === 'string') return raw;
  try {
    return JSON.stringify(raw);
  } catch {
    return undefined;
  }
}

function checkText(value: unknown, pattern: RegExp, field: string, expected: string, bad: Bad): void {
  if (typeof value !== 'string' || !pattern.test(value)) bad(field, expected);
}

function isPositive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}
