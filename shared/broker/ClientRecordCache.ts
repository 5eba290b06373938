import { LruMap } from './LruMap';

/** The cache entry of one client id: its record (or its absence), and the registry read that fills it. */
export interface ClientSlot<T> {
  client: T | undefined;
  loadedAtMs: number;
  /** When the last registry read of this id started (a refusal's re-read waits `RECHECK_MS` after it). */
  readAtMs: number;
  loading: Promise<T | undefined> | undefined;
  /** A registered client's read started by a request not yet refused: the first refusal pays for it. */
  unpaidRead: boolean;
}

/**
 * Client records by id, in two LRU caches of `capacity` slots each: registered clients' records, and ids
 * the registry has no record of. A flood of made-up ids churns only the second, so it cannot push a
 * client's record out.
 */
export class ClientRecordCache<T> {
  /** Registered clients' records (and ids an admin write just touched, unread). */
  readonly known: LruMap<string, ClientSlot<T>>;
  /** Ids read and found to have no record, or whose first read is running. */
  readonly absent: LruMap<string, ClientSlot<T>>;

  constructor(capacity: number) {
    this.known = new LruMap(capacity);
    this.absent = new LruMap(capacity);
  }

  /** Whether a record of `clientId` was read and found: it is a registered client's id. */
  holdsRecordOf(clientId: string): boolean {
    return this.known.peek(clientId)?.client !== undefined;
  }

  /** A new slot for an id not cached yet, among the absent ones until its read finds a record. */
  addAbsent(clientId: string): ClientSlot<T> {
    const slot = emptySlot<T>();
    this.absent.set(clientId, slot);
    return slot;
  }

  /**
   * Forgets the record of `clientId` but keeps the id among the registered ones, unread, so that its next
   * lookup reads the registry (an admin write in this process just changed it).
   */
  forget(clientId: string): void {
    this.absent.delete(clientId);
    this.known.set(clientId, emptySlot());
  }

  /**
   * Moves a slot just read to the cache its answer belongs in (a client created, or deleted, since the
   * last read), if it is still the one cached for the id: an admin write meanwhile replaced it.
   */
  fileByAnswer(clientId: string, slot: ClientSlot<T>): void {
    if (slot.client && this.absent.peek(clientId) === slot) {
      this.absent.delete(clientId);
      this.known.set(clientId, slot);
    } else if (!slot.client && this.known.peek(clientId) === slot) {
      this.known.delete(clientId);
      this.absent.set(clientId, slot);
    }
  }
}

function emptySlot<T>(): ClientSlot<T> {
  return {
    client: undefined,
    loadedAtMs: -Infinity,
    readAtMs: -Infinity,
    loading: undefined,
    unpaidRead: false,
  };
}
