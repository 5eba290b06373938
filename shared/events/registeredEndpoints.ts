import { eachEndpoint, type IdTally } from '../endpoints/registryWalk';
import type { PageRequest } from '../listPages';
import type { EventsManagedEndpoint, EventsRotationPorts } from './EventsRotationPorts';
import { type ArmScope, withinScope } from './onlineEndpointResource';

type Registry = EventsRotationPorts['registry'];

/**
 * Every endpoint registered in the workspace or resource group, of any kind, retired or not; the rows the
 * walk skipped because they cannot be read (their coordinates with them) are counted in `unreadable`.
 * `abortSignal` ends the walk (each page's read is handed it).
 */
export async function registeredIn(
  registry: Registry,
  scope: ArmScope,
  unreadable: IdTally,
  abortSignal?: AbortSignal,
): Promise<EventsManagedEndpoint[]> {
  // Only the scope's endpoints are kept from the walk: a page of the registry at a time.
  const inScope: EventsManagedEndpoint[] = [];
  const listPage = (request: PageRequest) => registry.listPage(request, abortSignal);
  for await (const endpoint of eachEndpoint(listPage, unreadable))
    if (withinScope(endpoint.arm, scope)) inScope.push(endpoint);
  return inScope;
}
