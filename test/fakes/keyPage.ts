import type { Page, PageRequest } from '../../shared/listPages';

/**
 * The page a Table-backed registry answers for `request`, over records held in memory: the ids after
 * `request.after` in code point order (Table storage's key order), at most `request.top` of them, and
 * `after` set only while ids are left. `serverPageLimit` answers shorter pages, as Table storage may
 * while rows are left (its 1,000-row and 5-second limits), so callers are tested to follow `after`
 * rather than stop at a short page.
 */
export function keyPage<T extends { id: string }>(
  records: Iterable<T>,
  { top, after }: PageRequest,
  serverPageLimit = Infinity,
): Page<T> {
  const following = [...records]
    .filter((r) => after === undefined || r.id > after)
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  const items = following.slice(0, Math.min(top, serverPageLimit));
  const last = items.at(-1);
  return following.length > items.length && last ? { items, after: last.id } : { items };
}
