import type { FieldIssue } from '../errors';
import { isObject } from '../isObject';
import { MalformedEventError } from './errors';
import { type Delivery, EVENT_TYPES, type IncomingEvent } from './IncomingEvent';
import { readString } from './lenientData';

/** The parts of an HTTP delivery the parser needs (structural, so `shared/` does not need the host types). */
export interface DeliveryRequest {
  /** Header lookup, case-insensitive (as `Headers.get`). */
  header(name: string): string | null | undefined;
  readonly body: string;
}

/** Largest delivery accepted: Event Grid's own limit for a batch (1 MB) and for one event. */
export const MAX_DELIVERY_BYTES = 1024 * 1024;

type Json = Record<string, unknown>;

/**
 * Parses a webhook POST in any form Event Grid (or a CloudEvents sender) uses: Event Grid schema
 * (a JSON array), CloudEvents structured mode (one event, `application/cloudevents+json`), CloudEvents
 * batch (`application/cloudevents-batch+json`, also accepted as a plain JSON array) and CloudEvents
 * binary mode (`ce-*` headers, body = data). The whole delivery is validated before anything runs:
 * one malformed event rejects the delivery (400), see docs/events.md for why.
 * @throws MalformedEventError naming every bad field, with its index in the batch
 */
export function parseDelivery(request: DeliveryRequest): Delivery {
  const contentType = (request.header('content-type') ?? '').toLowerCase();
  const binarySpec = request.header('ce-specversion');
  if (binarySpec) return { kind: 'events', events: [parseBinary(request, binarySpec)] };

  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body);
  } catch {
    throw new MalformedEventError([{ field: 'body', message: 'must be valid JSON' }]);
  }
  if (contentType.includes('application/cloudevents+json') && !isObject(parsed)) {
    throw new MalformedEventError([{ field: 'body', message: 'must be one CloudEvent object' }]);
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  if (items.length === 0)
    throw new MalformedEventError([{ field: 'body', message: 'must hold at least one event' }]);

  const issues: FieldIssue[] = [];
  const events: IncomingEvent[] = [];
  items.forEach((item, index) => {
    const at = Array.isArray(parsed) ? `[${index}].` : '';
    if (!isObject(item)) return void issues.push({ field: `${at}event`, message: 'must be a JSON object' });
    const event = isCloudEvent(item)
      ? parseCloudEvent(item, at, issues)
      : parseEventGridEvent(item, at, issues);
    if (event) events.push(event);
  });
  if (issues.length > 0) throw new MalformedEventError(issues);

  const validation = events.find((e) => e.type === EVENT_TYPES.subscriptionValidation);
  if (validation) {
    const code = readString(validation.data, 'validationCode');
    if (!code) throw new MalformedEventError([{ field: 'data.validationCode', message: 'is required' }]);
    return { kind: 'validation', validationCode: code };
  }
  return { kind: 'events', events };
}

function isCloudEvent(item: Json): boolean {
  // The recorded ML CloudEvents sample spells it `specVersion`; accept any casing.
  return readString(item, 'specversion') !== undefined;
}

function requireString(
  item: Json,
  name: string,
  at: string,
  issues: FieldIssue[],
  allowEmpty = false,
): string {
  const value = item[name];
  if (typeof value === 'string' && (allowEmpty || value.trim() !== '')) return value;
  issues.push({
    field: `${at}${name}`,
    message: value === undefined ? 'is required' : 'must be a non-empty string',
  });
  return '';
}

/**
 * The event id, which becomes the processed-events row key: text with a lone UTF-16 surrogate (a JSON
 * `\ud800` escape) cannot be encoded as one, and would fail every delivery as a storage outage (503).
 */
function requireId(item: Json, at: string, issues: FieldIssue[]): string {
  const id = requireString(item, 'id', at, issues);
  if (/\p{Cs}/u.test(id)) issues.push({ field: `${at}id`, message: 'must be well-formed Unicode text' });
  return id;
}

function requireData(item: Json, at: string, issues: FieldIssue[]): Json {
  const data = item['data'];
  if (isObject(data)) return data;
  issues.push({ field: `${at}data`, message: data === undefined ? 'is required' : 'must be a JSON object' });
  return {};
}

function optionalString(item: Json, name: string, at: string, issues: FieldIssue[]): string | undefined {
  const value = item[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  issues.push({ field: `${at}${name}`, message: 'must be a string' });
  return undefined;
}

function parseEventGridEvent(item: Json, at: string, issues: FieldIssue[]): IncomingEvent | undefined {
  const before = issues.length;
  const id = requireId(item, at, issues);
  const type = requireString(item, 'eventType', at, issues);
  const subject = requireString(item, 'subject', at, issues, true);
  const time = requireString(item, 'eventTime', at, issues);
  const data = requireData(item, at, issues);
  const source = optionalString(item, 'topic', at, issues) ?? '';
  if (issues.length > before) return undefined;
  return { schema: 'eventGrid', id, type, source, subject, time, data };
}

function parseCloudEvent(item: Json, at: string, issues: FieldIssue[]): IncomingEvent | undefined {
  const before = issues.length;
  const spec = readString(item, 'specversion');
  if (spec !== '1.0') issues.push({ field: `${at}specversion`, message: 'must be "1.0"' });
  const id = requireId(item, at, issues);
  const type = requireString(item, 'type', at, issues);
  const source = requireString(item, 'source', at, issues);
  const subject = optionalString(item, 'subject', at, issues) ?? '';
  const time = optionalString(item, 'time', at, issues);
  const data = requireData(item, at, issues);
  if (issues.length > before) return undefined;
  return { schema: 'cloudEvents', id, type, source, subject, data, ...(time ? { time } : {}) };
}

function parseBinary(request: DeliveryRequest, spec: string): IncomingEvent {
  const issues: FieldIssue[] = [];
  if (spec.trim() !== '1.0') issues.push({ field: 'ce-specversion', message: 'must be "1.0"' });
  const header = (name: string): string => {
    const value = request.header(name)?.trim();
    if (!value) issues.push({ field: name, message: 'is required' });
    return value ?? '';
  };
  const id = header('ce-id');
  const type = header('ce-type');
  const source = header('ce-source');
  let data: unknown;
  try {
    data = JSON.parse(request.body);
  } catch {
    issues.push({ field: 'body', message: 'must be JSON event data' });
  }
  if (data !== undefined && !isObject(data)) issues.push({ field: 'body', message: 'must be a JSON object' });
  if (issues.length > 0) throw new MalformedEventError(issues);
  const time = request.header('ce-time')?.trim();
  return {
    schema: 'cloudEvents',
    id,
    type,
    source,
    subject: request.header('ce-subject')?.trim() ?? '',
    data: data as Json,
    ...(time ? { time } : {}),
  };
}
