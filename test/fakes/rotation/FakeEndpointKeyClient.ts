import { untilAborted } from '../../../shared/clock';
import type { KeySlot, ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import type {
  EndpointDescription,
  EndpointKeyClient,
  EndpointKeys,
} from '../../../shared/rotation/EndpointKeyClient';
import { KeyValueRejectedError } from '../../../shared/rotation/errors';
import type { FakeClock } from '../FakeClock';
import { neverEnds } from '../sleeps';
import { FaultPlan } from './FaultPlan';
import { type HeldCall, NextCallHold } from './NextCallHold';

interface FakeEndpoint {
  authMode: string;
  keys: { Primary: string; Secondary: string };
  /** When each current key starts being accepted at scoring (propagation). */
  acceptedFrom: { Primary: number; Secondary: number };
}

/** One regenerate call the fake served. */
export interface RegenerateCall {
  endpointId: string;
  slot: KeySlot;
  at: number;
  withValue: boolean;
}

/** Azure ML endpoints' keys in memory: listKeys, regenerate (with or without value), auth mode, propagation delay. */
export class FakeEndpointKeyClient implements EndpointKeyClient {
  private readonly endpoints = new Map<string, FakeEndpoint>();
  private readonly failures = new Map<string, Error>();
  private counter = 0;
  readonly regenerations: RegenerateCall[] = [];
  readonly calls: string[] = [];
  /** Refuse caller-chosen key values with a 400, as some services might. */
  rejectKeyValues = false;
  /** Behave like a v1 web service: the service picks every value (`setsKeyValue` is false). */
  serviceSetsValues = false;
  /** How long a regenerated key takes to be accepted at scoring. */
  propagationMs = 0;
  /**
   * How long each listKeys and regenerate waits before ARM serves it, as at ARM's write gate while ARM
   * throttles writes (`ArmWriteGate`, up to a minute per write). The wait passes on the fake clock.
   */
  writeGateWaitMs = 0;
  /**
   * Whether describe never answers (an ARM GET that hangs): it then ends only when its signal fires, as the
   * SDK's request does.
   */
  describeHangs = false;
  /** The signal each describe was handed, in call order. */
  readonly describeSignals: Array<AbortSignal | undefined> = [];
  /** The signal each listKeys was handed, in call order. */
  readonly listKeysSignals: Array<AbortSignal | undefined> = [];
  /** Called before a regenerate is applied; tests assert invariants here. */
  onRegenerate?: (endpointId: string, slot: KeySlot) => void;
  /** Every key value the fake has held, for leak scans. */
  readonly allKeys: string[] = [];

  private readonly nextCall = new NextCallHold();

  constructor(
    private readonly clock: FakeClock,
    readonly faults: FaultPlan = new FaultPlan(),
  ) {}

  add(
    endpointId: string,
    options: { authMode?: string; primaryKey?: string; secondaryKey?: string } = {},
  ): void {
    const keys = {
      Primary: options.primaryKey ?? this.newKey(),
      Secondary: options.secondaryKey ?? this.newKey(),
    };
    this.allKeys.push(keys.Primary, keys.Secondary);
    this.endpoints.set(endpointId, {
      authMode: options.authMode ?? 'Key',
      keys,
      acceptedFrom: { Primary: 0, Secondary: 0 },
    });
  }

  /** The keys as the service holds them (test assertions). */
  keysOf(endpointId: string): { Primary: string; Secondary: string } {
    return { ...this.get(endpointId).keys };
  }

  /** Changes a key behind the app's back (drift). */
  setKey(endpointId: string, slot: KeySlot, value: string): void {
    this.get(endpointId).keys[slot] = value;
    this.allKeys.push(value);
  }

  setAuthMode(endpointId: string, authMode: string): void {
    this.get(endpointId).authMode = authMode;
  }

  /** The next call of `method` throws `error`. */
  failNext(method: 'describe' | 'listKeys' | 'regenerateKey', error: Error): void {
    this.failures.set(method, error);
  }

  /** True when `key` is a current key of the endpoint and has propagated. */
  accepts(endpointId: string, key: string): boolean {
    const endpoint = this.endpoints.get(endpointId);
    if (!endpoint) return false;
    return (['Primary', 'Secondary'] as const).some(
      (slot) => endpoint.keys[slot] === key && this.clock.now() >= endpoint.acceptedFrom[slot],
    );
  }

  /**
   * Makes the next regenerate a long-running operation that completes when the returned `release` is
   * called; `reached` resolves once it is running. Later regenerates are not held.
   */
  holdNextRegenerate(): HeldCall {
    return this.nextCall.hold();
  }

  setsKeyValue(): boolean {
    return !this.serviceSetsValues;
  }

  async describe(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointDescription> {
    this.enter('describe', endpoint.id);
    this.describeSignals.push(abortSignal);
    if (this.describeHangs) await untilAborted(neverEnds(0), abortSignal);
    return {
      authMode: this.get(endpoint.id).authMode,
      scoringUri: `https://scoring.test/${endpoint.id}/score`,
    };
  }

  async listKeys(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointKeys> {
    this.enter('listKeys', endpoint.id);
    this.listKeysSignals.push(abortSignal);
    await this.writeGate();
    const { keys } = this.get(endpoint.id);
    return { primaryKey: keys.Primary, secondaryKey: keys.Secondary };
  }

  async regenerateKey(endpoint: ManagedEndpoint, slot: KeySlot, keyValue?: string): Promise<void> {
    this.enter('regenerateKey', endpoint.id);
    await this.writeGate();
    if (keyValue !== undefined && this.rejectKeyValues) throw new KeyValueRejectedError();
    await this.nextCall.pass();
    this.onRegenerate?.(endpoint.id, slot);
    const target = this.get(endpoint.id);
    target.keys[slot] = keyValue ?? this.newKey();
    target.acceptedFrom[slot] = this.clock.now() + this.propagationMs;
    this.allKeys.push(target.keys[slot]);
    this.regenerations.push({
      endpointId: endpoint.id,
      slot,
      at: this.clock.now(),
      withValue: keyValue !== undefined,
    });
    this.faults.mutated(`arm.regenerate:${slot}`);
  }

  private async writeGate(): Promise<void> {
    if (this.writeGateWaitMs > 0) await this.clock.sleep(this.writeGateWaitMs);
  }

  private enter(method: string, endpointId: string): void {
    this.faults.check();
    this.calls.push(`${method}:${endpointId}`);
    const failure = this.failures.get(method);
    if (failure) {
      this.failures.delete(method);
      throw failure;
    }
  }

  private get(endpointId: string): FakeEndpoint {
    const endpoint = this.endpoints.get(endpointId);
    if (!endpoint) throw Object.assign(new Error('endpoint not found'), { statusCode: 404 });
    return endpoint;
  }

  private newKey(): string {
    this.counter += 1;
    return `svc-key-${this.counter}-${Math.random().toString(36).slice(2, 12)}`;
  }
}
