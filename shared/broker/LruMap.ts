/**
 * A size-bounded map that forgets the least recently used entry first. Built on `Map`'s insertion
 * order: a hit moves the key to the end, an insert past the bound drops the first key. Every operation
 * is O(1); the broker uses it wherever a caller-controlled key could otherwise grow memory without
 * bound (tokens per scope, client records, rate buckets).
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  /** The most recently used key: a hit on it (a busy client, a hot scope) needs no reordering. */
  private newest: K | undefined;

  /**
   * @param maxEntries - most entries kept (at least 1)
   * @param onEvict - called with each entry dropped for space
   */
  constructor(
    readonly maxEntries: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    if (!(maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
  }

  /** Number of entries held. */
  get size(): number {
    return this.map.size;
  }

  /** Returns the value and marks it most recently used. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined && key !== this.newest) {
      this.map.delete(key);
      this.map.set(key, value);
      this.newest = key;
    }
    return value;
  }

  /** Returns the value without changing its recency. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Stores the value as most recently used, evicting the least recently used entries past the bound. */
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    this.newest = key;
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      const evicted = this.map.get(oldest.value) as V;
      this.map.delete(oldest.value);
      this.onEvict?.(oldest.value, evicted);
    }
  }

  /** Removes one entry. */
  delete(key: K): boolean {
    if (key === this.newest) this.newest = undefined;
    return this.map.delete(key);
  }

  /** Removes everything. */
  clear(): void {
    this.newest = undefined;
    this.map.clear();
  }
}
