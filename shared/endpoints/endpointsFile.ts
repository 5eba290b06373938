import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

import { ConfigError, type FieldIssue, ValidationError } from '../errors';
import { armIdentity, type ManagedEndpoint, secretIdentity } from './ManagedEndpoint';
import { type EndpointRules, validateEndpoint } from './validateEndpoint';

/** Where `ENDPOINTS_FILE` is and how its entries are validated. */
export interface EndpointsFileOptions {
  /** `ENDPOINTS_FILE`; no path means no file entries. */
  path?: string | undefined;
  rules: EndpointRules;
  /** Time stamped on entries without createdAt. */
  now: () => string;
  /** @default fs.readFile as UTF-8 */
  readText?: (path: string) => Promise<string>;
}

/**
 * The endpoints declared in `ENDPOINTS_FILE` (a JSON array, or `{ "endpoints": [...] }`), by id. A bad
 * file is one `ConfigError` naming every bad entry and field, ids, secrets or Azure ML endpoints declared
 * twice included: the registry's claims keep one secret and one Azure ML endpoint to one registration in
 * the table, and the file must not get round that (two entries of one endpoint would each regenerate the
 * key they think inactive, which may be the one the other just stored).
 */
export async function readEndpointsFile(
  options: EndpointsFileOptions,
): Promise<Map<string, ManagedEndpoint>> {
  const { path: endpointsFile, rules, now } = options;
  const entries = new Map<string, ManagedEndpoint>();
  const secretOwners = new Map<string, string>();
  /** Entry ids by `armIdentity`, the key of the table's coordinate claims: kind and coordinates, ignoring case. */
  const armOwners = new Map<string, string>();
  if (!endpointsFile) return entries;
  const read = options.readText ?? ((path: string) => readFile(path, 'utf8'));
  let text: string;
  try {
    text = await read(endpointsFile);
  } catch (error) {
    // Missing or unreadable says so, and where a relative path led (the worker's working directory).
    const code = (error as { code?: unknown } | null)?.code;
    throw new ConfigError([
      {
        field: 'ENDPOINTS_FILE',
        message: `cannot be read at ${resolve(endpointsFile)}${typeof code === 'string' ? ` (${code})` : ''}`,
      },
    ]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([
      {
        field: 'ENDPOINTS_FILE',
        message: `cannot be read as JSON (${error instanceof Error ? error.name : 'error'})`,
      },
    ]);
  }
  const list = Array.isArray(raw) ? raw : (raw as { endpoints?: unknown } | null)?.endpoints;
  if (!Array.isArray(list))
    throw new ConfigError([
      { field: 'ENDPOINTS_FILE', message: 'must hold an array of endpoints or { "endpoints": [...] }' },
    ]);
  const issues = list.flatMap((item, index) => {
    try {
      const endpoint = validateEndpoint(item, rules, now());
      if (entries.has(endpoint.id))
        return [{ field: `ENDPOINTS_FILE[${index}].id`, message: 'is declared twice' }];
      const issues: FieldIssue[] = [];
      const owner = secretOwners.get(secretIdentity(endpoint.secretName));
      if (owner)
        issues.push({
          field: `ENDPOINTS_FILE[${index}].secretName`,
          message: `is also the secret of ${owner}`,
        });
      // A validated entry's arm is four strings, so it has an identity.
      const place = armIdentity(endpoint)!;
      const registered = armOwners.get(place);
      if (registered)
        issues.push({
          field: `ENDPOINTS_FILE[${index}].arm`,
          message:
            `is the ${endpoint.kind} of ${registered} too (same subscription, resource group, workspace and ` +
            `name, ignoring case): ${endpoint.id} and ${registered} would rotate its keys against each other`,
        });
      if (issues.length > 0) return issues;
      entries.set(endpoint.id, endpoint);
      secretOwners.set(secretIdentity(endpoint.secretName), endpoint.id);
      armOwners.set(place, endpoint.id);
      return [];
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      return error.issues.map((i) => ({
        field: `ENDPOINTS_FILE[${index}].${i.field}`,
        message: i.message,
      }));
    }
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return entries;
}
