import { randomUUID } from 'node:crypto';

import { type Clock, isoNow } from '../clock';
import { ConflictError, NotFoundError } from '../errors';
import { eachListed, type ListedPage, listedPage, type Page, type PageRequest } from '../listPages';
import type { Logger } from '../logging';
import { retryWhileStale } from '../optimisticChange';
import {
  type BrokerClientRecord,
  type BrokerClientRegistry,
  type BrokerClientView,
  type SecretSlot,
  toClientView,
} from './BrokerClient';
import { CLIENT_ID_PATTERN, parseClientFields } from './clientInput';
import { ClientChangedError, ClientRecordUnreadableError } from './errors';
import { SecretHasher } from './SecretHasher';

/** A created client and both its secrets: the only time they are shown. */
export interface CreatedBrokerClient {
  readonly client: BrokerClientView;
  readonly primarySecret: string;
  readonly secondarySecret: string;
}

/** A regenerated secret: the only time it is shown. */
export interface RegeneratedSecret {
  readonly client: BrokerClientView;
  readonly slot: SecretSlot;
  readonly secret: string;
}

/** Options of {@link BrokerClientAdminService}. */
export interface BrokerClientAdminServiceOptions {
  registry: BrokerClientRegistry;
  hasher: SecretHasher;
  clock: Clock;
  logger: Logger;
  /** Called after every write with the client id (drops caches in this process). */
  onChange?: (clientId: string) => void;
}

/**
 * Manages broker clients for the admin API. Secrets are generated here (32 random bytes, base64url),
 * returned exactly once (create, regenerate) and stored only as HMACs; list and get never return a
 * secret or a hash. Writes in this process take effect at once; other instances see them within the
 * authenticator's cache TTL.
 * @example const { client, primarySecret } = await admin.create({ displayName: 'Legacy app', allowedScopes: ['demo-token'] });
 */
export class BrokerClientAdminService {
  constructor(private readonly options: BrokerClientAdminServiceOptions) {}

  /** Creates a client from an admin request body; `ValidationError`, `ConflictError` when the id is taken. */
  async create(body: Record<string, unknown>): Promise<CreatedBrokerClient> {
    const fields = parseClientFields(body, true);
    const primarySecret = SecretHasher.generateSecret();
    const secondarySecret = SecretHasher.generateSecret();
    const now = isoNow(this.options.clock);
    const record: BrokerClientRecord = {
      id: fields.id ?? randomUUID(),
      displayName: fields.displayName ?? '',
      allowedScopes: fields.allowedScopes ?? [],
      ...(typeof fields.rateLimitPerMinute === 'number'
        ? { rateLimitPerMinute: fields.rateLimitPerMinute }
        : {}),
      enabled: fields.enabled ?? true,
      ...(typeof fields.expiresAt === 'string' ? { expiresAt: fields.expiresAt } : {}),
      keyAccess: fields.keyAccess ?? false,
      primarySecretHash: this.options.hasher.hashForStorage(primarySecret),
      secondarySecretHash: this.options.hasher.hashForStorage(secondarySecret),
      createdAt: now,
      updatedAt: now,
    };
    if (fields.id !== undefined) await this.refuseCaseVariant(fields.id);
    await this.options.registry.create(record);
    this.changed(record.id, 'create');
    return { client: toClientView(record), primarySecret, secondarySecret };
  }

  /**
   * Refuses an id that differs from a registered one only in case. Ids are compared exactly (they are
   * Table row keys), but client ids are usually GUIDs, which people and managed identity treat as the
   * same whatever their case: two such clients would be one client to their owners, with two audits,
   * limits and secrets. An admin create is rare, so one walk of the clients is its price; two case
   * variants created at the same instant on two instances can still both land.
   */
  private async refuseCaseVariant(id: string): Promise<void> {
    const folded = id.toLowerCase();
    // The ids of rows that cannot be read are taken too.
    const idsOf = async (request: PageRequest): Promise<Page<string>> => {
      const { items, unreadable = [], ...page } = await this.options.registry.listPage(request);
      return { ...page, items: [...items.map((c) => c.id), ...unreadable.map((u) => u.id)] };
    };
    for await (const taken of eachListed(idsOf)) {
      if (taken !== id && taken.toLowerCase() === folded) {
        throw new ConflictError(
          `Broker client ${taken} already exists; ids that differ only in case are one id.`,
        );
      }
    }
  }

  /**
   * One page of clients in id order, without secrets or hashes (the admin API's list), naming the rows in
   * its range that cannot be read with what a `GET` of each answers (409 `CLIENT_RECORD_UNREADABLE`), as
   * the endpoints list does: the client exists, and only a person can mend it.
   */
  async listPage(request: PageRequest): Promise<ListedPage<BrokerClientView>> {
    const { unreadable, ...page } = await this.options.registry.listPage(request);
    return listedPage(
      { ...page, items: page.items.map(toClientView) },
      unreadable,
      ({ id, fields }) => new ClientRecordUnreadableError(id, fields),
    );
  }

  /**
   * One client, without secrets or hashes; `NotFoundError` when absent, `ClientRecordUnreadableError` when
   * its row cannot be read (as for `update` and `regenerate`, which then write nothing).
   */
  async get(id: string): Promise<BrokerClientView> {
    return toClientView(await this.require(id));
  }

  /** Changes scopes, limits, enabled flag, expiry or key access (`null` clears rate limit and expiry). */
  async update(id: string, body: Record<string, unknown>): Promise<BrokerClientView> {
    const fields = parseClientFields(body, false);
    const { rateLimitPerMinute, expiresAt, ...rest } = fields;
    const record = await this.change(id, (current) => {
      const { rateLimitPerMinute: _r, expiresAt: _e, ...base } = current;
      const rate = rateLimitPerMinute === undefined ? current.rateLimitPerMinute : rateLimitPerMinute;
      const expiry = expiresAt === undefined ? current.expiresAt : expiresAt;
      return {
        ...base,
        ...rest,
        ...(typeof rate === 'number' ? { rateLimitPerMinute: rate } : {}),
        ...(typeof expiry === 'string' ? { expiresAt: expiry } : {}),
      };
    });
    this.changed(id, 'update');
    return toClientView(record);
  }

  /** Deletes a client, also one whose row cannot be read (the way out its error names); `NotFoundError` when absent. */
  async delete(id: string): Promise<void> {
    if (!CLIENT_ID_PATTERN.test(id)) throw new NotFoundError(`No broker client ${id.slice(0, 64)}.`);
    await this.options.registry.delete(id);
    this.changed(id, 'delete');
  }

  /** Replaces one secret; the other keeps working, so a client can roll without downtime. */
  async regenerate(id: string, slot: SecretSlot): Promise<RegeneratedSecret> {
    const secret = SecretHasher.generateSecret();
    const hash = this.options.hasher.hashForStorage(secret);
    const record = await this.change(id, (current) => ({
      ...current,
      ...(slot === 'primary' ? { primarySecretHash: hash } : { secondarySecretHash: hash }),
    }));
    this.changed(id, `regenerate ${slot}`);
    return { client: toClientView(record), slot, secret };
  }

  /**
   * Reads the client, applies `edit` and writes it back if nobody wrote in between; otherwise reads
   * again, so concurrent calls (a scope change and a secret regeneration) both take effect.
   */
  private async change(
    id: string,
    edit: (current: BrokerClientRecord) => BrokerClientRecord,
  ): Promise<BrokerClientRecord> {
    return retryWhileStale(
      (error) => error instanceof ClientChangedError,
      async () => {
        const record = {
          ...edit(await this.require(id)),
          updatedAt: isoNow(this.options.clock),
        };
        await this.options.registry.update(record);
        return record;
      },
    );
  }

  private async require(id: string): Promise<BrokerClientRecord> {
    const record = CLIENT_ID_PATTERN.test(id) ? await this.options.registry.get(id) : undefined;
    if (!record) throw new NotFoundError(`No broker client ${id.slice(0, 64)}.`);
    return record;
  }

  private changed(id: string, operation: string): void {
    this.options.onChange?.(id);
    this.options.logger.info(`${operation} => done`, { clientId: id });
  }
}
