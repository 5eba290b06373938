import { eachListed, type PageRequest } from '../listPages';
import type { LogProps } from '../logging';
import type { EndpointPage } from './EndpointRegistry';

/**
 * How many ids a walk's summary line names of the rows it counts apart (unreadable ones, say): enough to
 * start mending (a `GET` of one answers what is wrong with it), few enough that a registry of many bad rows
 * still logs one short line per walk.
 */
const IDS_LOGGED = 5;

/**
 * Rows a walk of the registry counted apart: how many, and the first {@link IDS_LOGGED} ids in the walk's
 * order (key order), so that a walk sums up in one line what it otherwise names row by row.
 */
export class IdTally {
  count = 0;
  readonly firstIds: string[] = [];

  add(id: string): void {
    this.count += 1;
    if (this.firstIds.length < IDS_LOGGED) this.firstIds.push(id);
  }

  /** As a summary line logs it: `<name>=<count> <name>Ids=<ids, comma-separated>`; nothing when none. */
  logged(name: string): LogProps {
    return this.count > 0 ? { [name]: this.count, [`${name}Ids`]: this.firstIds.join(',') } : {};
  }
}

/**
 * Every endpoint of the registry, one page at a time ({@link eachListed}), counting in `unreadable` the rows
 * the listing skipped because they cannot be read. The listing warns about each of them with what is wrong,
 * once per walk; the walk's own summary sums them up, so that a walk that left endpoints alone because their
 * rows were edited by hand does not read like a clean one.
 */
export function eachEndpoint<T>(
  listPage: (request: PageRequest) => Promise<EndpointPage<T>>,
  unreadable: IdTally,
): AsyncGenerator<T> {
  return eachListed(async (request) => {
    const page = await listPage(request);
    for (const row of page.unreadable ?? []) unreadable.add(row.id);
    return page;
  });
}
