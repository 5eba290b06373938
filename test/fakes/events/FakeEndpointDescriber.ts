import { untilAborted } from '../../../shared/clock';
import type { ArmCoordinates } from '../../../shared/endpoints/ManagedEndpoint';
import type {
  ArmEndpointKind,
  EndpointDescriber,
  EndpointDescription,
} from '../../../shared/events/EndpointDescriber';

/**
 * `EndpointDescriber` over a map of `<workspace>/<name>` → description (online endpoints), and one of the
 * serverless endpoints ARM has → their auth mode. An endpoint exists at ARM while it is in either, until `remove`.
 */
export class FakeEndpointDescriber implements EndpointDescriber {
  /** The coordinates of each `describe`, in order (`describedKinds` the kind asked for). */
  readonly described: ArmCoordinates[] = [];
  readonly describedKinds: ArmEndpointKind[] = [];
  /** `<kind> <workspace>/<name>` of each existence check, in order. */
  readonly checked: string[] = [];
  private readonly endpoints = new Map<string, EndpointDescription>();
  private readonly serverless = new Map<string, string>();
  private failure: Error | undefined;
  /** How long each existence check takes (ARM's latency), in ms; `slowMs` for the ones named there. */
  latencyMs = 0;
  readonly slowMs = new Map<string, number>();
  /** Existence checks in flight now, and the most at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** The abort signal each `describe` and `exists` was handed, in call order; undefined when none. */
  readonly signals: Array<{ call: 'describe' | 'exists'; signal: AbortSignal | undefined }> = [];
  /** What the next call waits for (see {@link holdNext}). */
  private held: Promise<void> | undefined;

  /**
   * The next `describe` or `exists` answers only once the returned function is called, or ends as soon as its
   * signal fires (an SDK request aborted): ARM holding a request (a `Retry-After` waited out, a silent socket).
   */
  holdNext(): () => void {
    let release: () => void = () => undefined;
    this.held = new Promise<void>((resolve) => (release = resolve));
    return release;
  }

  add(workspace: string, name: string, description: EndpointDescription): void {
    this.endpoints.set(`${workspace}/${name}`.toLowerCase(), description);
  }

  addServerless(workspace: string, name: string, authMode = 'Key'): void {
    this.serverless.set(`${workspace}/${name}`.toLowerCase(), authMode);
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

  async describe(
    coords: ArmCoordinates,
    kind: ArmEndpointKind = 'onlineEndpoint',
    abortSignal?: AbortSignal,
  ): Promise<EndpointDescription | undefined> {
    await this.called('describe', abortSignal);
    this.described.push(coords);
    this.describedKinds.push(kind);
    const key = `${coords.workspace}/${coords.name}`.toLowerCase();
    if (kind === 'onlineEndpoint') return this.endpoints.get(key);
    const authMode = this.serverless.get(key);
    return authMode === undefined ? undefined : { authMode, tags: {} };
  }

  async exists(
    kind: 'onlineEndpoint' | 'serverlessEndpoint',
    coords: ArmCoordinates,
    abortSignal?: AbortSignal,
  ): Promise<boolean> {
    await this.called('exists', abortSignal);
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

  /** One call: its signal recorded; one that has fired fails it at once, as it does the SDK's; then any hold. */
  private async called(call: 'describe' | 'exists', abortSignal: AbortSignal | undefined): Promise<void> {
    this.signals.push({ call, signal: abortSignal });
    abortSignal?.throwIfAborted();
    const held = this.held;
    this.held = undefined;
    if (held) await untilAborted(held, abortSignal);
  }
}
