import { ENDPOINT_ID_RULE } from '../endpoints/validateEndpoint';
import { type FieldIssue, ValidationError } from '../errors';
import { parseIsoDateTime, utcDateTime } from '../isoDateTime';
import { TABLE_STRING_MAX_CHARS } from '../tableLimits';
import { isPrivilegedResource, type ParsedScope, parseScope } from './scope';

/** Fields an admin may set on a broker client. `null` clears an optional field on update. */
export interface BrokerClientFields {
  displayName?: string;
  allowedScopes?: string[];
  rateLimitPerMinute?: number | null;
  enabled?: boolean;
  expiresAt?: string | null;
  keyAccess?: boolean;
}

/** Client ids: letters, digits, `.`, `_`, `-`, starting with a letter or digit; 3-64 characters (GUIDs fit). */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/;
const MAX_SCOPES = 100;
const SCOPES_RULE = `must be 1-${MAX_SCOPES} endpoint ids or https resource URIs`;
const MAX_RATE = 1_000_000;
const FIELDS = ['displayName', 'allowedScopes', 'rateLimitPerMinute', 'enabled', 'expiresAt', 'keyAccess'];

/** What is wrong with one field, as its {@link FieldIssue} message. */
interface Refusal {
  readonly issue: string;
}

/**
 * Validates an admin request body for create (`creating`: `id` allowed, `displayName` and
 * `allowedScopes` required) or update (every field optional, `id` refused). Unknown fields are refused
 * so that typos do not pass silently. Scopes come back normalised and de-duplicated.
 * @throws ValidationError naming every bad field
 */
export function parseClientFields(
  body: Record<string, unknown>,
  creating: boolean,
): BrokerClientFields & { id?: string } {
  const issues: FieldIssue[] = [];
  const out: BrokerClientFields & { id?: string } = {};
  for (const name of Object.keys(body)) {
    if (!FIELDS.includes(name) && !(creating && name === 'id')) {
      issues.push({ field: name.slice(0, 64), message: 'is not a known field' });
    }
  }
  const { id, displayName, allowedScopes, rateLimitPerMinute, enabled, expiresAt, keyAccess } = body;
  if (creating && id !== undefined) {
    if (typeof id === 'string' && CLIENT_ID_PATTERN.test(id)) out.id = id;
    else
      issues.push({
        field: 'id',
        message: 'must be 3-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
      });
  }
  if (displayName !== undefined || creating) {
    if (typeof displayName === 'string' && displayName.trim().length > 0 && displayName.length <= 200) {
      out.displayName = displayName.trim();
    } else
      issues.push({ field: 'displayName', message: 'must be a non-empty string of at most 200 characters' });
  }
  if (allowedScopes !== undefined || creating) {
    const scopes = parseAllowedScopes(allowedScopes);
    if ('issue' in scopes) issues.push({ field: 'allowedScopes', message: scopes.issue });
    else out.allowedScopes = scopes;
  }
  if (rateLimitPerMinute === null && !creating) out.rateLimitPerMinute = null;
  else if (rateLimitPerMinute !== undefined) {
    if (typeof rateLimitPerMinute === 'number' && isRateLimit(rateLimitPerMinute)) {
      out.rateLimitPerMinute = rateLimitPerMinute;
    } else issues.push({ field: 'rateLimitPerMinute', message: `must be an integer from 1 to ${MAX_RATE}` });
  }
  for (const [name, value] of [
    ['enabled', enabled],
    ['keyAccess', keyAccess],
  ] as const) {
    if (value === undefined) continue;
    if (typeof value === 'boolean') out[name] = value;
    else issues.push({ field: name, message: 'must be true or false' });
  }
  if (expiresAt === null && !creating) out.expiresAt = null;
  else if (expiresAt !== undefined) {
    const expiry = parseExpiresAt(expiresAt);
    if (typeof expiry === 'string') out.expiresAt = expiry;
    else issues.push({ field: 'expiresAt', message: expiry.issue });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return out;
}

function isRateLimit(perMinute: number): boolean {
  return Number.isInteger(perMinute) && perMinute >= 1 && perMinute <= MAX_RATE;
}

/** The normalised scopes as the registry stores them, or why they cannot be granted. */
function parseAllowedScopes(value: unknown): string[] | Refusal {
  const parsed = parseScopes(value);
  if (typeof parsed === 'number') {
    // Named by position, not echoed: a grant that is no scope may be anything pasted there.
    return {
      issue:
        `${SCOPES_RULE}; allowedScopes[${parsed}] is neither: an endpoint id is ${ENDPOINT_ID_RULE}, ` +
        'a resource URI starts with https:// and has no query or fragment',
    };
  }
  if (!parsed) return { issue: SCOPES_RULE };
  const privileged = parsed.filter(isPrivilegedResource).map((scope) => scope.value);
  if (privileged.length > 0) {
    return {
      issue:
        `must not name ${privileged.join(', ')}: a token for it would carry ` +
        "the broker's own rights (ARM, Key Vault, Storage, Event Grid), not the client's",
    };
  }
  const scopes = parsed.map((scope) => scope.value);
  // The registry stores the normalised scopes as one JSON array in one Table storage property.
  const stored = JSON.stringify(scopes).length;
  if (stored > TABLE_STRING_MAX_CHARS) {
    return {
      issue: `must take at most ${TABLE_STRING_MAX_CHARS} characters as stored, the size of one Table storage property (the normalised scopes as a JSON array: ${stored} here)`,
    };
  }
  return scopes;
}

/** The expiry as stored (UTC, milliseconds), or why it is no RFC 3339 date-time the API can answer. */
function parseExpiresAt(value: unknown): string | Refusal {
  const at = typeof value === 'string' ? parseIsoDateTime(value) : undefined;
  if (at === undefined) {
    return {
      issue:
        'must be an ISO 8601 date-time with seconds and an offset, such as 2030-12-31T00:00:00Z, on a real date',
    };
  }
  // Else this API would answer a date-time it refuses.
  return (
    utcDateTime(at) ?? {
      issue: 'must fall between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z once kept in UTC',
    }
  );
}

/** The scopes, undefined for no list of 1-100, or the index of the first entry that is no scope. */
function parseScopes(value: unknown): ParsedScope[] | number | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_SCOPES) return undefined;
  const scopes = new Map<string, ParsedScope>();
  for (const [index, item] of value.entries()) {
    const parsed = typeof item === 'string' ? parseScope(item) : undefined;
    if (!parsed) return index;
    scopes.set(parsed.value, parsed);
  }
  return [...scopes.values()];
}
