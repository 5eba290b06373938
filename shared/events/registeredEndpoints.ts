import { eachListed } from '../listPages';
import type { EventsManagedEndpoint, EventsRotationPorts } from './EventsRotationPorts';
import { type ArmScope, withinScope } from './onlineEndpointResource';

type Registry = EventsRotationPorts['registry'];

/** Every endpoint registered in the workspace or resource group, of any kind, retired or not. */
export async function registeredIn(registry: Registry, scope: ArmScope): Promise<EventsManagedEndpoint[]> {
  // Only the scope's endpoints are kept from the walk: a page of the registry at a time.
  const inScope: EventsManagedEndpoint[] = [];
  for await (const endpoint of eachListed((request) => registry.listPage(request)))
    if (withinScope(endpoint.arm, scope)) inScope.push(endpoint);
  return inScope;
}
