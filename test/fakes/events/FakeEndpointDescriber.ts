import type { ArmCoordinates } from '../../../shared/endpoints/ManagedEndpoint';
import type { EndpointDescriber, EndpointDescription } from '../../../shared/events/EndpointDescriber';

/**
 * `EndpointDescriber` over a map of `<workspace>/<name>` → description (online endpoints), and a set of
 * serverless endpoints ARM has. An endpoint exists at ARM while it is in either, until `remove`.
 */
export class FakeEndpointDescriber implements EndpointDescriber {
  readonly described: ArmCoordinates[] = [];
  /** `<kind> <workspace>/<name>` of each existence check, in order. */
  readonly checked: string[] = [];
  private readonly endpoints = new Map<string, EndpointDescription>();
  private readonly serverless = new Set<string>();
  private failure: Error | undefined;
  /** How long each existence check takes (ARM's latency), in ms; `slowMs` for the ones named there. */
  latencyMs = 0;
  readonly slowMs = new Map<string, number>();
  /** Existence checks in flight now, and the most at once. */
  inFlight = 0;
  maxInFlight = 0;

  add(workspace: string, name: string, description: EndpointDescription): void {
    this.endpoints.set(`${workspace}/${name}`.toLowerCase(), description);
  }

  addServerless(workspace: string, name: string): void {
    this.serverless.add(`${workspace}/${name}`.toLowerCase());
  }

  /** ARM no longer has it (deleted). */
  remove(workspace: string, name: string): void {
    this.endpoints.delete(`${workspace}/${name}`.toLowerCase());
    this.serverless.delete(`${workspace}/${name}`.toLowerCase());
  }

  /** The next existence check throws `error`. */
  failNextCheck(error: Error): void {
    this.failure = error;
  }

  async describe(coords: ArmCoordinates): Promise<EndpointDescription | undefined> {
    this.described.push(coords);
    return this.endpoints.get(`${coords.workspace}/${coords.name}`.toLowerCase());
  }

  async exists(kind: 'onlineEndpoint' | 'serverlessEndpoint', coords: ArmCoordinates): Promise<boolean> {
    const key = `${coords.workspace}/${coords.name}`.toLowerCase();
    this.checked.push(`${kind} ${key}`);
    const latency = this.slowMs.get(key) ?? this.latencyMs;
    if (latency > 0) {
      this.inFlight += 1;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      await new Promise((resolve) => setTimeout(resolve, latency).unref());
      this.inFlight -= 1;
    }
    const failure = this.failure;
    this.failure = undefined;
    if (failure) throw failure;
    return kind === 'onlineEndpoint' ? this.endpoints.has(key) : this.serverless.has(key);
  }
}
