import { randomBytes } from 'node:crypto';

import {
  type Clock,
  finishesWithin,
  keptAfterFailedReRead,
  reReadOrPrevious,
  withinTimeLimitGivingUp,
} from '../clock';
import { DependencyUnavailableError } from '../errors';
import type { Logger } from '../logging';
import { errorName } from '../networkErrors';
import { auditFingerprint } from './AuditLog';
import type { BrokerClientRecord, BrokerClientRegistry } from './BrokerClient';
import { CLIENT_ID_PATTERN } from './clientInput';
import { ClientRecordCache, type ClientSlot } from './ClientRecordCache';
import { ColdReadBudget } from './ColdReadBudget';
import {
  ClientBackoffError,
  ClientLookupsBusyError,
  ClientNotAuthorizedError,
  ClientRecordUnreadableError,
  InvalidClientError,
} from './errors';
import { FailureBackoff } from './FailureBackoff';
import { SecretHasher } from './SecretHasher';

/** A client that proved it holds one of its secrets, as the broker needs it on the hot path. */
export interface AuthenticatedClient {
  readonly id: string;
  readonly allowedScopes: ReadonlySet<string>;
  readonly rateLimitPerMinute: number;
  readonly keyAccess: boolean;
}

interface LoadedClient extends AuthenticatedClient {
  readonly primary: Buffer;
  readonly secondary: Buffer;
  /** Secrets that matched this record (see `authenticate`), in memory only; dropped with the record. */
  readonly verified: string[];
  readonly enabled: boolean;
  readonly expiresAtMs: number;
  /** The id's counter in the {@link FailureBackoff}, found once per read rather than on every success. */
  readonly backoffCounter: number;
}

type Slot = ClientSlot<LoadedClient>;

/** Options of {@link ClientAuthenticator}. */
export interface ClientAuthenticatorOptions {
  registry: BrokerClientRegistry;
  hasher: SecretHasher;
  clock: Clock;
  logger: Logger;
  defaultRateLimitPerMinute: number;
  /** @default new FailureBackoff() (5 free failures, then 1 s doubling to 60 s) */
  backoff?: FailureBackoff;
  /** How long a client record (or its absence) is reused before re-reading the registry. @default 30000 */
  cacheTtlMs?: number;
  /**
   * Registered clients' records cached at once. Ids the registry has no record of are cached apart, as
   * many again, so that made-up ids cannot push a client's record out. @default 10000
   */
  maxCachedClients?: number;
  /**
   * Registry reads for ids not cached as a registered client's (made-up ids cost these).
   * @default new ColdReadBudget() (20 a second, bursts of 200)
   */
  coldReads?: ColdReadBudget;
  /**
   * How long the request that starts the re-read of an expired record waits for it before it is served
   * the previous answer (requests meanwhile get that at once): a healthy registry answers in
   * milliseconds, and a slow or silent one then holds no request up for longer than this. @default 1000
   */
  reloadWaitMs?: number;
  /**
   * Longest a registry read may take before it counts as failed (and is aborted, its request closed):
   * the Tables SDK sets no time limit, and a read that never answers would hold its client's lookups for
   * good. @default 10000
   */
  readTimeLimitMs?: number;
}

/** Least time between a read of a client's record and the re-read a refusal starts (see `authenticate`). */
const RECHECK_MS = 2000;

/** Least time between two `lookup => cold reads held back` log lines. */
const HELD_BACK_LOG_MS = 60_000;

/**
 * Characters of a presented id that pick its backoff counter: an id no client can have may be any length,
 * and ids differing only beyond this share one counter.
 */
const BACKOFF_ID_CHARS = 128;

/**
 * Authenticates broker clients by id and secret.
 *
 * - The presented secret is HMACed once and compared with both stored hashes with
 *   `crypto.timingSafeEqual`, always both (no short circuit). A secret that matched is remembered with
 *   the cached record, so a client's next requests skip the HMAC (the costliest step of a warm vend)
 *   and compare it in constant time instead, until the record is reloaded or invalidated; a wrong
 *   secret never takes that path, so failures all cost the same.
 * - An unknown id is answered exactly like a wrong secret: same error, and the same work (an HMAC and
 *   two constant-time compares against a random dummy hash); the registry read is cached for both. An id
 *   that no client can have (outside `CLIENT_ID_PATTERN`, the rule the admin API creates ids by) is not
 *   read at all: it costs neither storage nor the cold-read budget below.
 * - Repeated failures for one id back off (429 + `Retry-After`, doubling to 60 s). A request with the
 *   *right* secret still succeeds during a backoff and resets it: secrets are 256-bit random values, so
 *   guessing is hopeless anyway, and an attacker spraying bad secrets at a known id cannot lock the
 *   legitimate holder out. The backoff slows misconfigured clients and keeps failure traffic cheap.
 *   Its counters are a fixed table, not a cache of ids, so failures for made-up ids cannot make it
 *   forget a client's (or an unknown id's) failures; a cached client's counter is found once per read.
 * - Disabled and expired clients are refused only after the secret checked out, so the refusal tells
 *   nothing to someone without the secret.
 * - Registered clients' records and the absence of a record are cached apart, so a flood of made-up ids
 *   churns only the latter. Reading an id not cached as a registered client's takes one read from a
 *   process-wide {@link ColdReadBudget}; with none left the id is refused unread, and for a second
 *   after that every refusal (known id or not, wrong secret or unknown id) is a 503 `ClientLookupsBusy`
 *   with `Retry-After` instead of a 401: a client whose record was not read is told to retry, not that
 *   its secret is wrong, and the answer still says nothing about whether the id exists. A registered
 *   client's reads are never held back, but a refused request takes from the budget for the read it
 *   caused as it would for an unknown id's, so that neither the answer nor the budget left tells them apart.
 * - Records are cached for `cacheTtlMs`; admin writes in this process invalidate at once. Before it
 *   refuses a request (wrong secret, unknown id, disabled or expired), an instance reads the record
 *   again, at most once per id every {@link RECHECK_MS}, so a secret regenerated or a client created or
 *   enabled on another instance works everywhere at once; other changes are seen within the TTL.
 * - A registry outage keeps serving stale records (read again every few seconds meanwhile, not on every
 *   request), and so does a re-read that is still running (after `reloadWaitMs` for the request that
 *   started it).
 */
export class ClientAuthenticator {
  private readonly records: ClientRecordCache<LoadedClient>;
  private readonly coldReads: ColdReadBudget;
  private heldBack = 0;
  private heldBackLoggedAtMs = -Infinity;
  private readonly backoff: FailureBackoff;
  private readonly cacheTtlMs: number;
  private readonly reloadWaitMs: number;
  private readonly readTimeLimitMs: number;
  private readonly dummyHash = randomBytes(32);
  /** When each record {@link refused} built was last warned about (carried to the next read of its id). */
  private readonly refusedWarnedAtMs = new WeakMap<LoadedClient, number>();

  constructor(private readonly options: ClientAuthenticatorOptions) {
    this.backoff = options.backoff ?? new FailureBackoff();
    this.cacheTtlMs = options.cacheTtlMs ?? 30_000;
    this.reloadWaitMs = options.reloadWaitMs ?? 1000;
    this.readTimeLimitMs = options.readTimeLimitMs ?? 10_000;
    this.records = new ClientRecordCache(options.maxCachedClients ?? 10_000);
    this.coldReads = options.coldReads ?? new ColdReadBudget();
  }

  /**
   * Checks the client's secret and standing.
   * @throws InvalidClientError (401), ClientBackoffError (429), ClientNotAuthorizedError (403),
   *   ClientLookupsBusyError (503, refused while registry reads are held back),
   *   DependencyUnavailableError (503, registry unreachable and nothing cached)
   */
  async authenticate(clientId: string, secret: string): Promise<AuthenticatedClient> {
    let client = await this.lookup(clientId);
    let now = this.options.clock.now();
    let matches = this.match(client, secret);
    if (matches === 0 || !client?.enabled || now >= client.expiresAtMs) {
      // An id outside the id rule has no cached slot (`lookup` never reads it), so it gets no re-read.
      const reRead = await this.recheck(clientId, client);
      // Matched again even when the record came back unchanged (or as no client's), so that a refusal
      // costs unknown ids and wrong secrets the same work.
      if (reRead) {
        client = reRead.client;
        now = this.options.clock.now();
        matches = this.match(client, secret);
      }
    }
    if (matches === 0 || !client) {
      this.payForRead(clientId, now);
      const backoffCounter = this.backoff.counterOf(clientId.slice(0, BACKOFF_ID_CHARS));
      const waiting = this.backoff.retryAfterSeconds(backoffCounter, now);
      // Not counted as a failure: the broker, not the client, fell short (a refused read's client may
      // hold the right secret), and counting it would back a client off for a flood it did not send.
      const busy = this.coldReads.busyRetryAfterSeconds(now);
      if (busy > 0 && waiting === 0) throw new ClientLookupsBusyError(busy);
      const next = this.backoff.recordFailure(backoffCounter, now);
      const retryAfter = Math.max(waiting, next);
      if (retryAfter > 0) throw new ClientBackoffError(retryAfter);
      throw new InvalidClientError();
    }
    this.backoff.reset(client.backoffCounter);
    if (!client.enabled) throw new ClientNotAuthorizedError('The client is disabled.');
    if (now >= client.expiresAtMs) throw new ClientNotAuthorizedError('The client has expired.');
    return client;
  }

  /**
   * What {@link authenticate} answers at once, synchronously (the warm path of a vend): the client when its
   * record is cached and fresh, `secret` matched it before (so no HMAC), and it is enabled and unexpired
   * at `now`; else undefined with nothing changed, and `authenticate` decides (an HMAC, a read, a refusal).
   * @param now - the clock's time
   */
  authenticateCached(clientId: string, secret: string, now: number): AuthenticatedClient | undefined {
    const slot = this.records.known.get(clientId);
    const client = slot && this.fresh(slot, now) ? slot.client : undefined;
    if (!client?.enabled || now >= client.expiresAtMs || !matchedBefore(client, secret)) return undefined;
    this.backoff.reset(client.backoffCounter);
    return client;
  }

  /** 1 when the secret is one of the client's, else 0; a secret that matched is remembered with the record. */
  private match(client: LoadedClient | undefined, secret: string): number {
    if (client && matchedBefore(client, secret)) return 1;
    const matches = this.verify(client, secret);
    if (matches === 1 && client) {
      // Two live secrets per client; more entries only after a rotation, before the record reloads.
      if (client.verified.length >= 4) client.verified.length = 0;
      client.verified.push(secret);
    }
    return matches;
  }

  /**
   * The record read again before a refusal: another instance may have regenerated a secret, or created or
   * enabled the client, less than `cacheTtlMs` ago. At most one read per id every {@link RECHECK_MS}, so
   * wrong secrets cannot turn into a storage read each; a read that fails or is slow keeps the refusal.
   * An id not cached as a registered client's is re-read only within the cold-read budget.
   * @returns undefined when no re-read was due (or allowed)
   */
  private async recheck(
    clientId: string,
    previous: LoadedClient | undefined,
  ): Promise<{ client: LoadedClient | undefined } | undefined> {
    const now = this.options.clock.now();
    const registered = this.records.known.get(clientId);
    const slot = registered ?? this.records.absent.get(clientId);
    if (!slot || now - slot.readAtMs < RECHECK_MS) return undefined;
    const startedHere = slot.loading === undefined;
    // A registered id's read is never held back, but is paid for as an unknown id's (see `payForRead`).
    if (startedHere && !this.takeColdRead(now) && !registered) return undefined;
    const loading = (slot.loading ??= this.load(clientId, slot));
    try {
      return { client: await reReadOrPrevious(loading, previous, startedHere, this.reloadWaitMs) };
    } catch {
      return { client: previous };
    }
  }

  /** 1 when the secret's HMAC equals one of the stored hashes, else 0; the same work either way. */
  private verify(client: LoadedClient | undefined, secret: string): number {
    const presented = this.options.hasher.hash(secret);
    return client
      ? Number(SecretHasher.equal(presented, client.primary)) |
          Number(SecretHasher.equal(presented, client.secondary))
      : Number(SecretHasher.equal(presented, this.dummyHash)) &
          Number(SecretHasher.equal(presented, this.dummyHash)) &
          0;
  }

  /**
   * Reads the record of `clientId` into the cache if it may be a client's (a request refused before
   * authentication still names its client, and {@link recordableId} goes by the cache); never throws.
   */
  async learn(clientId: string): Promise<void> {
    if (!CLIENT_ID_PATTERN.test(clientId)) return;
    const reading = this.lookup(clientId);
    this.payForRead(clientId, this.options.clock.now());
    // A refusal waits no longer for it than a re-read may hold a request up (the read goes on).
    await finishesWithin(reading, this.reloadWaitMs).catch(() => false);
  }

  /**
   * Takes from the cold-read budget for the read of a registered client's record that a refused request
   * caused, as the read of an unknown id's would have taken: a registered client's reads are never held
   * back, but if a refusal did not pay for them, a caller who spent the budget could tell registered ids
   * (401) from unknown ones (503, or a budget spent sooner). Paid at the refusal, not when the read
   * starts, so that a client's own requests (reading its record again every `cacheTtlMs`) cost nothing.
   */
  private payForRead(clientId: string, now: number): void {
    const slot = this.records.known.peek(clientId);
    if (!slot?.unpaidRead) return;
    slot.unpaidRead = false;
    this.takeColdRead(now);
  }

  /**
   * `clientId` as audit rows, telemetry and logs may hold it: as sent when this instance holds it as a
   * registered client, else `unregistered:` and 16 hex digits of its SHA-256. An id that is no client's
   * may be a secret pasted into the id field (`curl -u "$SECRET:$ID"`), and nothing may store a secret.
   */
  recordableId(clientId: string): string {
    return this.records.holdsRecordOf(clientId) ? clientId : unregisteredId(clientId);
  }

  /**
   * Forgets the cached record of a client (after an admin write in this process). The id stays among the
   * registered ones, unread, so its next request reads the registry at once whatever the cold-read
   * budget: a client created a moment ago authenticates, and one disabled or deleted is refused, during
   * a flood of made-up ids too.
   */
  invalidate(clientId: string): void {
    this.records.forget(clientId);
  }

  private async lookup(clientId: string): Promise<LoadedClient | undefined> {
    const now = this.options.clock.now();
    let slot = this.records.known.get(clientId);
    if (slot && this.fresh(slot, now)) return slot.client;
    const registered = slot !== undefined;
    if (!slot) {
      // An id outside the rule ids are created by is no client's: refused unread, at no cost to the budget.
      // Tested only here, after the cache of registered clients, so a client's own requests never pay for it.
      if (!CLIENT_ID_PATTERN.test(clientId)) return undefined;
      slot = this.records.absent.get(clientId);
      if (slot && this.fresh(slot, now)) return undefined;
      // The read a made-up id costs: within the budget, else the id is refused unread (as no client's).
      if (slot?.loading === undefined && !this.takeColdRead(now)) return undefined;
      slot ??= this.records.addAbsent(clientId);
    }
    const startedHere = slot.loading === undefined;
    if (startedHere && registered) slot.unpaidRead = true;
    const loading = (slot.loading ??= this.load(clientId, slot));
    if (slot.loadedAtMs === -Infinity) return loading; // nothing to serve meanwhile
    return reReadOrPrevious(loading, slot.client, startedHere, this.reloadWaitMs);
  }

  /** Whether the slot's answer (a record, or none) was read less than `cacheTtlMs` ago. */
  private fresh(slot: Slot, now: number): boolean {
    return now - slot.loadedAtMs < this.cacheTtlMs;
  }

  private async load(clientId: string, slot: Slot): Promise<LoadedClient | undefined> {
    slot.readAtMs = this.options.clock.now();
    try {
      // Past the time limit the read is given up, not left running: under a silent table its request would
      // hold a socket until the transport's 30-s try limit, one per cold or refused id every few seconds.
      // Only a cache miss, expiry or refusal reads; a warm vend never gets here.
      const record = await withinTimeLimitGivingUp(
        (signal) => this.options.registry.get(clientId, signal),
        this.readTimeLimitMs,
      ).catch((error: unknown) => {
        if (error instanceof ClientRecordUnreadableError) return error;
        throw error;
      });
      slot.client =
        record instanceof ClientRecordUnreadableError
          ? this.refused(record, slot.client)
          : record && this.prepare(record, clientId);
      slot.loadedAtMs = this.options.clock.now();
      this.records.fileByAnswer(clientId, slot);
      return slot.client;
    } catch (error) {
      this.options.logger.warn('lookup => registry unavailable', {
        clientId: this.recordableId(clientId),
        servingStale: slot.client !== undefined,
        error: errorName(error),
      });
      if (slot.client) {
        slot.loadedAtMs = keptAfterFailedReRead(this.options.clock.now(), this.cacheTtlMs);
        return slot.client;
      }
      throw new DependencyUnavailableError('clientRegistry', 'The client registry is not reachable.', {
        cause: error,
      });
    } finally {
      slot.loading = undefined;
    }
  }

  /** One read from the cold-read budget; a refusal is logged at most once a minute, with their number. */
  private takeColdRead(now: number): boolean {
    if (this.coldReads.take(now)) return true;
    this.heldBack++;
    if (now - this.heldBackLoggedAtMs >= HELD_BACK_LOG_MS) {
      this.options.logger.warn('lookup => cold reads held back', { heldBack: this.heldBack });
      this.heldBack = 0;
      this.heldBackLoggedAtMs = now;
    }
    return false;
  }

  /**
   * A client whose row cannot be read (edited by hand), as held here: a registered id that no secret
   * matches, so every request of it is answered as a wrong secret's is (401, then the backoff), with the
   * same work (an HMAC, two compares), and the refusal's re-read sees a mended row within 2 s. Not a 403
   * like a disabled client's: that comes only after the secret checked out, and a row that cannot be read
   * may hold no hash to check it with; nor a 503, since only a person can mend it. The row is named in a
   * warning (id and columns, never what they hold) once per `cacheTtlMs` while it stays so, however often
   * refusals re-read it. Built in the shape of {@link prepare}'s records, so the warm path sees one shape.
   */
  private refused(error: ClientRecordUnreadableError, previous: LoadedClient | undefined): LoadedClient {
    const now = this.options.clock.now();
    let warnedAtMs = previous && this.refusedWarnedAtMs.get(previous);
    if (warnedAtMs === undefined || now - warnedAtMs >= this.cacheTtlMs) {
      this.options.logger.warn('lookup => client row unreadable, its requests refused as a wrong secret', {
        clientId: error.clientId,
        fields: error.fields.join(','),
      });
      warnedAtMs = now;
    }
    const client: LoadedClient = {
      id: error.clientId,
      allowedScopes: new Set(),
      rateLimitPerMinute: this.options.defaultRateLimitPerMinute,
      keyAccess: false,
      enabled: false,
      expiresAtMs: -Infinity,
      primary: this.dummyHash,
      secondary: this.dummyHash,
      verified: [],
      backoffCounter: this.backoff.counterOf(error.clientId),
    };
    this.refusedWarnedAtMs.set(client, warnedAtMs);
    return client;
  }

  private prepare(record: BrokerClientRecord, clientId: string): LoadedClient {
    const expiresAtMs = record.expiresAt ? Date.parse(record.expiresAt) : Infinity;
    return {
      id: record.id,
      allowedScopes: new Set(record.allowedScopes),
      rateLimitPerMinute: record.rateLimitPerMinute ?? this.options.defaultRateLimitPerMinute,
      keyAccess: record.keyAccess,
      enabled: record.enabled,
      expiresAtMs: Number.isNaN(expiresAtMs) ? -Infinity : expiresAtMs,
      primary: Buffer.from(record.primarySecretHash, 'base64url'),
      secondary: Buffer.from(record.secondarySecretHash, 'base64url'),
      verified: [],
      backoffCounter: this.backoff.counterOf(clientId),
    };
  }
}

/** Whether `secret` matched the client's record before (constant time for each remembered secret). */
function matchedBefore(client: LoadedClient, secret: string): boolean {
  for (const previous of client.verified) if (SecretHasher.sameSecret(secret, previous)) return true;
  return false;
}

/** The recorded form of an id no registered client has (see `ClientAuthenticator.recordableId`). */
export function unregisteredId(clientId: string): string {
  return `unregistered:${auditFingerprint(clientId)}`;
}
