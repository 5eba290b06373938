import type { ArmCoordinates } from '../endpoints/ManagedEndpoint';
import { eachListed } from '../listPages';
import type { ArmEndpointKind } from './EndpointDescriber';
import type { EventsManagedEndpoint, EventsRotationPorts } from './EventsRotationPorts';
import { type ArmScope, deriveEndpointId, sameEndpoint, withinScope } from './onlineEndpointResource';

type Registry = EventsRotationPorts['registry'];

/**
 * The registered endpoint of `kind` (an online endpoint unless said) at these ARM coordinates, whatever
 * its id, one in service before a retired one: a v1 web service or endpoint of another kind of the same
 * name in the workspace is another resource. The id auto-registration gives it is read first, one point
 * read for the events about an endpoint it registered (every later write of that endpoint raises one);
 * the registry is walked page by page only when that finds none in service (a new endpoint, one
 * registered by hand under another id, a retired one), and stops at the first in service.
 */
export async function findRegistered(
  registry: Registry,
  coords: ArmCoordinates,
  kind: ArmEndpointKind = 'onlineEndpoint',
): Promise<EventsManagedEndpoint | undefined> {
  const isAt = (e: EventsManagedEndpoint): boolean => e.kind === kind && sameEndpoint(e.arm, coords);
  const derived = await registry.get(deriveEndpointId(coords));
  if (derived && isAt(derived) && !derived.retiredAt) return derived;
  let retired = derived && isAt(derived) ? derived : undefined;
  for await (const endpoint of eachListed((request) => registry.listPage(request))) {
    if (!isAt(endpoint)) continue;
    if (!endpoint.retiredAt) return endpoint;
    retired ??= endpoint;
  }
  return retired;
}

/** Every endpoint registered in the workspace or resource group, of any kind, retired or not. */
export async function registeredIn(registry: Registry, scope: ArmScope): Promise<EventsManagedEndpoint[]> {
  // Only the scope's endpoints are kept from the walk: a page of the registry at a time.
  const inScope: EventsManagedEndpoint[] = [];
  for await (const endpoint of eachListed((request) => registry.listPage(request)))
    if (withinScope(endpoint.arm, scope)) inScope.push(endpoint);
  return inScope;
}
