import { type AuditEntry, auditText } from './AuditLog';

/** One audit row as written. */
export type AuditRow = { partitionKey: string; rowKey: string } & Record<string, unknown>;

/** Up to 100 rows of one partition, written as one transaction. */
export interface AuditBatch {
  readonly actions: Array<['create', AuditRow]>;
  /** Decisions the rows record (the sum of their `count`). */
  readonly decisions: number;
}

/** Table transactions take at most 100 operations, all in one partition. */
const BATCH = 100;
/** Decisions one row holds; its `offsetsMs` then stays under 8 KB, far below a property's 64 KiB. */
const MAX_DECISIONS_PER_ROW = 1000;
const DAY_MS = 86_400_000;

/** A coarse row's client id or scope when its decisions differed in it. */
export const VARIOUS = '*';

/** Identical decisions of one flush interval (every field but the time), written as one row. */
export interface DecisionGroup {
  readonly first: AuditEntry;
  /** UTC day number of the group's decisions. */
  readonly day: number;
  readonly times: number[];
  /** Set on a coarse group: how many groups (client id and scope pairs) {@link coarsenDenials} merged. */
  readonly merged?: number;
}

/** Rows the groups make. */
export function rowsFor(groups: readonly DecisionGroup[]): number {
  return groups.reduce((sum, group) => sum + rowsOf(group), 0);
}

/** Rows one group makes. */
function rowsOf(group: DecisionGroup): number {
  return Math.ceil(group.times.length / MAX_DECISIONS_PER_ROW);
}

/**
 * Keeps every issuance's group and, in the order they began, the denials' groups as long as they make at
 * most `exactRows` rows (what issuances make counts against it); merges each further denial group into
 * one coarse group per UTC day, protocol, reason, upstream and failure class, whose client id and scope
 * are {@link VARIOUS} where its decisions differed in them. Every decision and its time is kept: only
 * who asked for what is lost, for denials beyond the budget, which a flood of made-up client ids or
 * scopes makes and a token issued never does (issuances are as many as clients' allowed scopes).
 * @returns the groups, and how many denial groups were merged
 */
export function coarsenDenials(
  groups: readonly DecisionGroup[],
  exactRows: number,
): { groups: DecisionGroup[]; merged: number } {
  let budget = exactRows - rowsFor(groups.filter((group) => group.first.outcome === 'issued'));
  const kept: DecisionGroup[] = [];
  const coarse = new Map<string, { first: AuditEntry; day: number; times: number[]; merged: number }>();
  let merged = 0;
  for (const group of groups) {
    const rows = rowsOf(group);
    if (group.first.outcome === 'issued' || rows <= budget) {
      if (group.first.outcome === 'denied') budget -= rows;
      kept.push(group);
      continue;
    }
    merged += 1;
    const key = JSON.stringify([group.day, ...COARSE_FIELDS.map((field) => group.first[field])]);
    const into = coarse.get(key);
    if (!into) {
      coarse.set(key, { first: group.first, day: group.day, times: [...group.times], merged: 1 });
      continue;
    }
    const { clientId, scope } = into.first;
    if (clientId !== group.first.clientId || scope !== group.first.scope) {
      into.first = {
        ...into.first,
        clientId: clientId === group.first.clientId ? clientId : VARIOUS,
        scope: scope === group.first.scope ? scope : VARIOUS,
      };
    }
    for (const time of group.times) into.times.push(time);
    into.merged += 1;
  }
  return { groups: [...kept, ...coarse.values()], merged };
}

/**
 * The decisions of one flush interval, grouped as they arrive: identical decisions (same client,
 * scope, protocol, outcome, reason, upstream and failure, same UTC day) share a group that keeps only
 * their times (numbers), so a second of traffic does not hold thousands of entry objects long enough
 * to reach the old GC space.
 */
export class DecisionGroups {
  private groups = new Map<string, DecisionGroup>();
  /**
   * Groups per outcome: each outcome has its own cap, so a flood of denials (made-up client ids cost an
   * attacker nothing) cannot crowd an issuance out of the trail.
   */
  private perOutcome = { issued: 0, denied: 0 };
  /** The group of the previous decision: a busy client's next decision is usually the same one. */
  private last: DecisionGroup | undefined;

  /**
   * Adds the decision to its group.
   * @param maxGroups - groups allowed per outcome; a decision that would start one more is not added
   * @returns whether the decision was added
   */
  add(entry: AuditEntry, maxGroups: number): boolean {
    const day = Math.floor(entry.timeMs / DAY_MS);
    let group = this.last;
    if (!group || group.day !== day || !sameDecision(group.first, entry)) {
      const key = groupKey(day, entry);
      group = this.groups.get(key);
      if (!group) {
        if (this.perOutcome[entry.outcome] >= maxGroups) return false;
        group = { first: entry, day, times: [] };
        this.groups.set(key, group);
        this.perOutcome[entry.outcome] += 1;
      }
      this.last = group;
    }
    group.times.push(entry.timeMs);
    return true;
  }

  /** The groups so far, in the order they began; starts afresh. */
  drain(): DecisionGroup[] {
    const groups = [...this.groups.values()];
    this.groups = new Map();
    this.perOutcome = { issued: 0, denied: 0 };
    this.last = undefined;
    return groups;
  }
}

/**
 * The row format of the audit table. One row records every identical decision of a flush interval:
 * `time` is the first decision, `lastTime` the last, `count` how many, and `offsetsMs` each decision's
 * time as milliseconds after `time`, in order, so no decision and no time is lost. Why: an insert
 * costs far more than a vend (`npm run bench -- http`: a row per decision cost Table storage about
 * 80 µs and the host about 25 µs per vend, more than the rest of the broker's work), and a busy client
 * asks for the same thing thousands of times a second. PartitionKey = UTC day (`2026-11-23`), RowKey =
 * zero-padded epoch ms of the first decision + a sequence + an instance tag, so rows sort by time and
 * never collide across instances.
 */
export class AuditRowBuilder {
  private sequence = 0;
  private readonly instance = Math.random().toString(36).slice(2, 8);

  /** The groups' rows as batches of at most {@link BATCH} rows of one partition. */
  toBatches(groups: readonly DecisionGroup[]): AuditBatch[] {
    const partitions = new Map<string, Array<['create', AuditRow]>>();
    for (const group of groups) {
      // Decisions are recorded in clock order, except across awaits that read the clock earlier.
      group.times.sort((a, b) => a - b);
      for (let i = 0; i < group.times.length; i += MAX_DECISIONS_PER_ROW) {
        const row = this.toRow(group, group.times.slice(i, i + MAX_DECISIONS_PER_ROW));
        const actions = partitions.get(row.partitionKey) ?? [];
        actions.push(['create', row]);
        partitions.set(row.partitionKey, actions);
      }
    }
    const batches: AuditBatch[] = [];
    for (const actions of partitions.values()) {
      for (let i = 0; i < actions.length; i += BATCH) {
        batches.push(batchOf(actions.slice(i, i + BATCH)));
      }
    }
    return batches;
  }

  /** One row for `times` (ascending), some or all of the group's. */
  private toRow({ first: entry, merged }: DecisionGroup, times: number[]): AuditRow {
    const firstMs = times[0] ?? entry.timeMs;
    const lastMs = times[times.length - 1] ?? firstMs;
    const time = new Date(firstMs).toISOString();
    this.sequence = (this.sequence + 1) % 1_000_000;
    return {
      partitionKey: time.slice(0, 10),
      rowKey: `${String(firstMs).padStart(15, '0')}-${String(this.sequence).padStart(6, '0')}-${this.instance}`,
      time,
      lastTime: new Date(lastMs).toISOString(),
      count: times.length,
      offsetsMs: times.map((t) => t - firstMs).join(','),
      // The broker's ids never reach the cut (a registered id is at most 64 characters, any other a
      // 29-character fingerprint), but a row is what storage takes, whatever the entry it was given.
      clientId: auditText(entry.clientId),
      scope: auditText(entry.scope),
      protocol: entry.protocol,
      outcome: entry.outcome,
      ...(entry.reason ? { reason: entry.reason } : {}),
      ...(entry.upstream ? { upstream: entry.upstream } : {}),
      ...(entry.failure ? { failure: entry.failure } : {}),
      ...(merged !== undefined ? { merged } : {}),
    };
  }
}

/** One batch of the rows. */
export function batchOf(actions: Array<['create', AuditRow]>): AuditBatch {
  return { actions, decisions: actions.reduce((sum, [, row]) => sum + Number(row['count']), 0) };
}

/** What identical decisions share, besides their UTC day: every field but the time (see `sameDecision`). */
const DECISION_FIELDS = [
  'clientId',
  'scope',
  'protocol',
  'outcome',
  'reason',
  'upstream',
  'failure',
] as const;

/** What the decisions of a coarse group share, besides their UTC day: all but the client id and scope. */
const COARSE_FIELDS = ['protocol', 'outcome', 'reason', 'upstream', 'failure'] as const;

/** JSON, not a separator, because presented client ids and scopes may hold any character. */
function groupKey(day: number, entry: AuditEntry): string {
  return JSON.stringify([day, ...DECISION_FIELDS.map((field) => entry[field])]);
}

/**
 * Whether two decisions share every {@link DECISION_FIELDS} field, written out rather than looped over
 * the list: every vend asks this of the previous decision, and `every` with a closure reading the fields
 * by name (two absent on an issuance) cost about 0.2 µs of the in-process vend's 1 µs, more inside the host.
 */
function sameDecision(a: AuditEntry, b: AuditEntry): boolean {
  return (
    a.clientId === b.clientId &&
    a.scope === b.scope &&
    a.protocol === b.protocol &&
    a.outcome === b.outcome &&
    a.reason === b.reason &&
    a.upstream === b.upstream &&
    a.failure === b.failure
  );
}
