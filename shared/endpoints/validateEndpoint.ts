import { type FieldIssue, ValidationError } from '../errors';
import { isObject } from '../isObject';
import { isIsoDateTime } from '../isoDateTime';
import { accepted, type Bad, matching, oneOf, optional } from './fieldChecks';
import {
  ARM_FIELDS,
  type ArmCoordinates,
  AUTH_MODES,
  ENDPOINT_KINDS,
  type EndpointKind,
  isKnownAuthMode,
  isKnownKind,
  type ManagedEndpoint,
  secretIdentity,
} from './ManagedEndpoint';
import { validateProbe } from './validateProbe';
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
 * Each check returns the field's value, narrowed, or undefined once it has reported the field as bad.
 * @param input - untrusted JSON value
 * @param rules - defaults and the minimum grace period
 * @param now - ISO time used for createdAt/updatedAt when absent
 */
export function validateEndpoint(input: unknown, rules: EndpointRules, now: string): ManagedEndpoint {
  const issues: FieldIssue[] = [];
  const bad: Bad = (field, message) => void issues.push({ field, message });
  if (!isObject(input)) throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
  for (const key of Object.keys(input)) if (!FIELDS.has(key)) bad(key, 'is not a known field');

  const id = accepted(input.id, isEndpointId, 'id', ENDPOINT_ID_RULE, bad);
  const kind = accepted(input.kind ?? 'onlineEndpoint', isKnownKind, 'kind', oneOf(ENDPOINT_KINDS), bad);
  const authMode = accepted(input.authMode ?? 'Key', isKnownAuthMode, 'authMode', oneOf(AUTH_MODES), bad);

  const arm = validateArm(input.arm, kind, bad);
  // Left out, the secret name is `<id>-key`, a valid name for every valid id: with the id refused above,
  // refusing that default as well would name a field the caller never sent.
  const givenSecretName = input.secretName ?? (id === undefined ? undefined : `${id}-key`);
  const secretName = givenSecretName === undefined ? undefined : validateSecretName(givenSecretName, bad);
  const periods = validatePeriods(
    input.rotationPeriodHours ?? rules.defaultPeriodHours,
    input.gracePeriodHours ?? rules.defaultGraceHours,
    authMode === 'Key' && input.brokerKeyAccess === true,
    rules,
    bad,
  );

  const probe = validateProbe(input.probe, bad);
  const v1 = validateV1Service(input.v1, kind, authMode, bad);
  const flagsAndTimes = validateFlagsAndTimes(input, now, bad);

  // Each undefined was reported: testing them too tells TypeScript what the issues already say.
  if (
    issues.length > 0 ||
    id === undefined ||
    kind === undefined ||
    authMode === undefined ||
    arm === undefined ||
    secretName === undefined ||
    periods === undefined ||
    probe === undefined
  )
    throw new ValidationError(issues);
  return { id, kind, arm, authMode, secretName, ...periods, probe, ...(v1 ? { v1 } : {}), ...flagsAndTimes };
}

/**
 * The endpoint's switches and lifecycle times, each checked only when sent: the switches default to a key
 * not brokered and an endpoint enabled, `createdAt` to `now`, and `updatedAt` is always `now`.
 */
function validateFlagsAndTimes(
  input: Raw,
  now: string,
  bad: Bad,
): Pick<
  ManagedEndpoint,
  'brokerKeyAccess' | 'enabled' | 'retiredAt' | 'reinstatedAt' | 'createdAt' | 'updatedAt'
> {
  const flag = (field: 'brokerKeyAccess' | 'enabled'): boolean | undefined =>
    optional(input[field], isBoolean, field, 'true or false', bad);
  const time = (field: 'retiredAt' | 'reinstatedAt' | 'createdAt' | 'updatedAt'): string | undefined =>
    optional(input[field], isIsoDateTime, field, 'an RFC 3339 date-time such as 2030-12-31T00:00:00Z', bad);
  const [brokerKeyAccess, enabled] = [flag('brokerKeyAccess'), flag('enabled')];
  const [retiredAt, reinstatedAt, createdAt] = [time('retiredAt'), time('reinstatedAt'), time('createdAt')];
  // Checked as sent, though a write stamps its own.
  time('updatedAt');
  return {
    brokerKeyAccess: brokerKeyAccess ?? false,
    enabled: enabled ?? true,
    ...(retiredAt !== undefined ? { retiredAt } : {}),
    ...(reinstatedAt !== undefined ? { reinstatedAt } : {}),
    createdAt: createdAt ?? now,
    updatedAt: now,
  };
}

/** The ARM coordinates; each bad or unknown one reported (`arm.<field>`). */
function validateArm(raw: unknown, kind: EndpointKind | undefined, bad: Bad): ArmCoordinates | undefined {
  if (!isObject(raw)) {
    bad('arm', 'an object with subscriptionId, resourceGroup, workspace and name');
    return undefined;
  }
  // Unknown keys are refused here and in probe as at the top level and in v1: a PATCH with a misspelt
  // field would otherwise answer 200 and keep the stored value.
  for (const key of Object.keys(raw)) if (!ARM_FIELD_SET.has(key)) bad(`arm.${key}`, 'is not a known field');
  const text = (field: keyof ArmCoordinates, pattern: RegExp, expected: string): string | undefined =>
    accepted(raw[field], matching(pattern), `arm.${field}`, expected, bad);
  const subscriptionId = text('subscriptionId', SUBSCRIPTION, 'a subscription id');
  const resourceGroup = text('resourceGroup', RESOURCE_GROUP, 'a resource group name (1-90 characters)');
  const workspace = text('workspace', WORKSPACE, 'a workspace name (3-33 letters, digits, _ and -)');
  const name =
    kind === 'v1WebService'
      ? text(
          'name',
          V1_SERVICE_NAME,
          'a v1 web service name (3-32 lowercase letters, digits and -, starting with a letter and ending with a letter or digit, as azureml-core requires)',
        )
      : text('name', ARM_NAME, 'an endpoint name (letters, digits, - and _; up to 255)');
  if (
    subscriptionId === undefined ||
    resourceGroup === undefined ||
    workspace === undefined ||
    name === undefined
  )
    return undefined;
  return { subscriptionId, resourceGroup, workspace, name };
}

function validateSecretName(secretName: unknown, bad: Bad): string | undefined {
  if (!isSecretName(secretName)) {
    bad(
      'secretName',
      `1-${MAX_SECRET_NAME} letters, digits and hyphens (Key Vault rules; "${PENDING_SUFFIX}" is appended for the pending secret)`,
    );
    return undefined;
  }
  // Key Vault names ignore case, so "X-PENDING" would be the pending secret of the endpoint whose secret is "x".
  if (secretIdentity(secretName).endsWith(PENDING_SUFFIX)) {
    bad('secretName', `must not end in "${PENDING_SUFFIX}": that name is the pending secret of another one`);
    return undefined;
  }
  return secretName;
}

/**
 * Checks the rotation and grace periods, each alone and against each other, and, for an endpoint whose
 * key is `brokered`, the grace period against the broker's token lifetime.
 */
function validatePeriods(
  period: unknown,
  grace: unknown,
  brokered: boolean,
  rules: EndpointRules,
  bad: Bad,
): Pick<ManagedEndpoint, 'rotationPeriodHours' | 'gracePeriodHours'> | undefined {
  const periodOk = isPositive(period) && period <= MAX_PERIOD_HOURS;
  if (!periodOk)
    bad('rotationPeriodHours', `a positive number of hours, at most ${MAX_PERIOD_HOURS} (10 years)`);
  const graceOk =
    typeof grace === 'number' &&
    Number.isFinite(grace) &&
    grace >= rules.minGraceHours &&
    grace <= MAX_PERIOD_HOURS;
  if (!graceOk)
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
  return periodOk && graceOk ? { rotationPeriodHours: period, gracePeriodHours: grace } : undefined;
}

function isPositive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

function isBoolean(value: unknown): value is boolean {
  return typeof value === 'boolean';
}
