import type { ArmCoordinates } from '../../../shared/endpoints/ManagedEndpoint';
import type { EndpointDescriber, EndpointDescription } from '../../../shared/events/EndpointDescriber';

/** `EndpointDescriber` over a map of `<workspace>/<name>` → description. */
export class FakeEndpointDescriber implements EndpointDescriber {
  readonly described: ArmCoordinates[] = [];
  private readonly endpoints = new Map<string, EndpointDescription>();

  add(workspace: string, name: string, description: EndpointDescription): void {
    this.endpoints.set(`${workspace}/${name}`.toLowerCase(), description);
  }

  async describe(coords: ArmCoordinates): Promise<EndpointDescription | undefined> {
    this.described.push(coords);
    return this.endpoints.get(`${coords.workspace}/${coords.name}`.toLowerCase());
  }
}
