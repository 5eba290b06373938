import type { ArmCoordinates } from '../endpoints/ManagedEndpoint';
import { eachListed } from '../listPages';
import type { ArmEndpointKind } from './EndpointDescriber';
import type { EventsManagedEndpoint, EventsRotationPorts } from './EventsRotationPorts';
import { type ArmScope, withinScope } from './onlineEndpointResource';

type Registry = EventsRotationPorts['registry'];

/**
 * The registered endpoint of `kind` (an online endpoint unless said) at these ARM coordinates, whatever
 * its id, one in service before a retired one: a v1 web service or endpoint of another kind of the same
 * name in the workspace is another resource. The registry finds it through the claim of its coordinates
 * (two point reads; one for an endpoint nobody registered, the many writes of untagged endpoints in a busy
 * subscription), and walks its rows only while some from before those claims may be left.
 */
export async function findRegistered(
  registry: Registry,
  coords: ArmCoordinates,
  kind: ArmEndpointKind = 'onlineEndpoint',
): Promise<EventsManagedEndpoint | undefined> {
  return registry.findByArm(kind, coords);
}

/** Every endpoint registered in the workspace or resource group, of any kind, retired or not. */
export async function registeredIn(registry: Registry, scope: ArmScope): Promise<EventsManagedEndpoint[]> {
  // Only the scope's endpoints are kept from the walk: a page of the registry at a time.
  const inScope: EventsManagedEndpoint[] = [];
  for await (const endpoint of eachListed((request) => registry.listPage(request)))
    if (withinScope(endpoint.arm, scope)) inScope.push(endpoint);
  return inScope;
}
