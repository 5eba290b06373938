import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

import { ConfigError, type FieldIssue, ValidationError } from '../errors';
import { isObject } from '../isObject';
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
  if (!options.path) return new Map();
  const text = await readFileText(options.path, options.readText);
  return validateEntries(entryList(text), options.rules, options.now);
}

async function readFileText(
  path: string,
  readText: (path: string) => Promise<string> = (path) => readFile(path, 'utf8'),
): Promise<string> {
  try {
    return await readText(path);
  } catch (error) {
    // Missing or unreadable says so, and where a relative path led (the worker's working directory).
    const code = (error as { code?: unknown } | null)?.code;
    throw new ConfigError([
      {
        field: 'ENDPOINTS_FILE',
        message: `cannot be read at ${resolve(path)}${typeof code === 'string' ? ` (${code})` : ''}`,
      },
    ]);
  }
}

/** The file's entries, unchecked: its top-level array, or the array under `endpoints`. */
function entryList(text: string): unknown[] {
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
  const list = Array.isArray(raw) ? raw : isObject(raw) ? raw.endpoints : undefined;
  if (!Array.isArray(list))
    throw new ConfigError([
      { field: 'ENDPOINTS_FILE', message: 'must hold an array of endpoints or { "endpoints": [...] }' },
    ]);
  return list;
}

/** The entries by id, once each is valid and none declares an id, a secret or an Azure ML endpoint again. */
function validateEntries(
  list: readonly unknown[],
  rules: EndpointRules,
  now: () => string,
): Map<string, ManagedEndpoint> {
  const entries = new Map<string, ManagedEndpoint>();
  const secretOwners = new Map<string, string>();
  /** Entry ids by `armIdentity`, the key of the table's coordinate claims: kind and coordinates, ignoring case. */
  const armOwners = new Map<string, string>();
  const issues = list.flatMap((item, index): FieldIssue[] => {
    const field = (name: string): string => `ENDPOINTS_FILE[${index}].${name}`;
    let endpoint: ManagedEndpoint;
    try {
      endpoint = validateEndpoint(item, rules, now());
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      return error.issues.map((i) => ({ field: field(i.field), message: i.message }));
    }
    if (entries.has(endpoint.id)) return [{ field: field('id'), message: 'is declared twice' }];
    const secret = secretIdentity(endpoint.secretName);
    const place = armIdentity(endpoint);
    const secretOwner = secretOwners.get(secret);
    const armOwner = armOwners.get(place);
    const twice: FieldIssue[] = [];
    if (secretOwner)
      twice.push({ field: field('secretName'), message: `is also the secret of ${secretOwner}` });
    if (armOwner)
      twice.push({
        field: field('arm'),
        message:
          `is the ${endpoint.kind} of ${armOwner} too (same subscription, resource group, workspace and ` +
          `name, ignoring case): ${endpoint.id} and ${armOwner} would rotate its keys against each other`,
      });
    if (twice.length > 0) return twice;
    entries.set(endpoint.id, endpoint);
    secretOwners.set(secret, endpoint.id);
    armOwners.set(place, endpoint.id);
    return [];
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return entries;
}
