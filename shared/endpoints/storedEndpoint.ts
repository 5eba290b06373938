import { isObject } from '../isObject';
import { isIsoDateTime } from '../isoDateTime';
import { EndpointRecordUnreadableError } from '../rotation/errors';
import type { EndpointEntity } from './endpointRows';
import { ARM_FIELDS, type ManagedEndpoint } from './ManagedEndpoint';
import { isSecretName } from './validateEndpoint';

// How a stored row's `endpoint` column is read back: leniently, as a newer version may have written it,
// and without trusting it, as a hand edit may have.

/**
 * The row's endpoint.
 * @throws EndpointRecordUnreadableError when its column is not an endpoint's JSON (see {@link readStored})
 */
export function parseRow(entity: EndpointEntity): ManagedEndpoint {
  const read = readStored(entity);
  if ('unreadable' in read) throw new EndpointRecordUnreadableError(entity.rowKey, read.unreadable);
  return read.endpoint;
}

/**
 * The row's endpoint, or what keeps it from being one, in words that name fields but never show a value:
 * the column may hold anything a hand edit pasted into it. Only the shape the code reads without checking
 * is required (the fields every version writes, of their types), so an endpoint a newer version stored
 * (a kind or auth mode added since, a field of its own) still reads: rolling deployments rely on that.
 */
export function readStored(
  entity: Pick<EndpointEntity, 'rowKey' | 'endpoint'>,
): { endpoint: ManagedEndpoint } | { unreadable: string } {
  if (typeof entity.endpoint !== 'string') return { unreadable: 'the row has no endpoint column' };
  let value: unknown;
  try {
    value = JSON.parse(entity.endpoint);
  } catch {
    return { unreadable: 'its endpoint column is not JSON' };
  }
  if (!isObject(value)) return { unreadable: 'its endpoint column is not a JSON object' };
  if (value.id !== entity.rowKey) return { unreadable: 'its endpoint column holds no id, or another one' };
  const bad = Object.entries(STORED_SHAPE)
    .filter(([field, isValid]) => !isValid(value[field], value))
    .map(([field]) => field);
  if (bad.length > 0) return { unreadable: `its endpoint column has no valid ${bad.join(', ')}` };
  return { endpoint: value as unknown as ManagedEndpoint };
}

type Raw = Record<string, unknown>;

const isText = (value: unknown): boolean => typeof value === 'string' && value !== '';
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const optional =
  (check: (value: unknown) => boolean) =>
  (value: unknown): boolean =>
    value === undefined || check(value);
const hasTexts = (value: unknown, fields: readonly string[]): value is Raw =>
  isObject(value) && fields.every((field) => typeof value[field] === 'string');

/**
 * What each stored field must be for the code to read it as it does (`endpoint.arm.name`, the period
 * arithmetic of the timer, `secretName` as a row key); `validateEndpoint`'s rules are not applied again:
 * they are the version's and the settings' of the day, and a stored endpoint outlives both.
 */
const STORED_SHAPE: Record<string, (value: unknown, endpoint: Raw) => boolean> = {
  kind: isText,
  authMode: isText,
  arm: (value) => hasTexts(value, ARM_FIELDS),
  secretName: isSecretName,
  rotationPeriodHours: (value) => isNumber(value) && value > 0,
  gracePeriodHours: (value) => isNumber(value) && value >= 0,
  probe: (value) => hasTexts(value, ['method', 'path', 'body']) && Array.isArray(value.acceptedStatuses),
  v1: (value, endpoint) =>
    value === undefined ? endpoint.kind !== 'v1WebService' : hasTexts(value, ['computeType', 'region']),
  brokerKeyAccess: (value) => typeof value === 'boolean',
  enabled: (value) => typeof value === 'boolean',
  // RFC 3339, as written: Date.parse reads a hand-edited `12/31/2030` as some time zone's midnight.
  retiredAt: optional(isIsoDateTime),
  reinstatedAt: optional(isIsoDateTime),
  createdAt: isIsoDateTime,
  updatedAt: isIsoDateTime,
};
