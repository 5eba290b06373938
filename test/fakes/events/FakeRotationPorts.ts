import { untilAborted } from '../../../shared/clock';
import {
  type ArmCoordinates,
  armIdentity,
  type EndpointKind,
  registeredAfter,
} from '../../../shared/endpoints/ManagedEndpoint';
import { ConflictError } from '../../../shared/errors';
import type {
  EndpointRegistrationInput,
  EventsManagedEndpoint,
  EventsRotationJob,
  EventsRotationPorts,
  EventsSecretVersion,
} from '../../../shared/events/EventsRotationPorts';
import { deriveEndpointId } from '../../../shared/events/onlineEndpointResource';
import { eachListed, type PageRequest } from '../../../shared/listPages';
import type { DriftReport } from '../../../shared/rotation/DriftDetector';
import { keyPage } from '../keyPage';
import { neverEnds } from '../sleeps';

type PortName = 'registry' | 'jobs' | 'drift' | 'admin' | 'secrets';

/**
 * In-memory stand-in for the rotation module's ports used by events: a registry (paged as Table storage
 * pages, `keyPage`), a job queue that
 * records jobs, secrets with current versions and tags, configurable drift reports, and one-shot
 * failure injection per port.
 */
export class FakeRotationPorts implements EventsRotationPorts {
  readonly endpoints: EventsManagedEndpoint[] = [];
  readonly enqueued: EventsRotationJob[] = [];
  readonly registered: EndpointRegistrationInput[] = [];
  readonly retired: Array<{ id: string; at: string }> = [];
  readonly reinstated: string[] = [];
  readonly driftChecks: string[] = [];
  readonly currentSecrets = new Map<string, EventsSecretVersion>();
  driftReport: Pick<DriftReport, 'status'> = { status: 'inSync' };
  /** Each `registry.listPage` request, in order. */
  readonly pageRequests: PageRequest[] = [];
  /** Endpoints per page at most, whatever `top` asks (Table storage may answer short pages). */
  serverPageLimit = Infinity;
  /**
   * Ids of rows edited by hand into something that is no endpoint: `listPage` skips them and names each in
   * the page whose key range holds it (`unreadable`), as the Table registry does.
   */
  readonly unreadableRows: string[] = [];
  private readonly failures = new Map<PortName, Error>();
  /** Ports whose next call never answers (see {@link hangNext}). */
  private readonly hangs = new Set<PortName>();
  /**
   * The abort signal each call of the reactions' reads and writes was handed (`findBySecretName`,
   * `findByArm`, `listPage`, `getCurrent`, `enqueue`, `check`), in call order; undefined when it was handed none.
   */
  readonly signals: Array<{ call: string; signal: AbortSignal | undefined }> = [];

  /** The next call on `port` throws `error`. */
  failNext(port: PortName, error: Error): void {
    this.failures.set(port, error);
  }

  /**
   * The next reaction read or write on `port` never answers: it ends only when its signal fires, as an SDK
   * request does. Nothing is recorded.
   */
  hangNext(port: PortName): void {
    this.hangs.add(port);
  }

  addEndpoint(e: Partial<EventsManagedEndpoint> & { id: string; secretName: string }): void {
    this.endpoints.push({
      kind: 'onlineEndpoint',
      authMode: 'Key',
      enabled: true,
      arm: { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws', name: e.id },
      ...e,
    });
  }

  setCurrent(secretName: string, version: string, tags: Record<string, string> = {}): void {
    this.currentSecrets.set(secretName, { version, tags });
  }

  readonly registry = {
    findBySecretName: async (name: string, abortSignal?: AbortSignal) => {
      await this.called('registry', 'findBySecretName', abortSignal);
      return this.endpoints.find((e) => e.secretName === name);
    },
    get: async (id: string) => (this.fail('registry'), this.endpoints.find((e) => e.id === id)),
    /**
     * As the Table registry answers while rows without coordinate claims are left (none claimed here): the
     * id auto-registration derives first, then a walk of the pages (`pageRequests`) that stops at the first
     * endpoint in service there.
     */
    findByArm: async (kind: EndpointKind, arm: ArmCoordinates, abortSignal?: AbortSignal) => {
      await this.called('registry', 'findByArm', abortSignal);
      const isAt = (e: EventsManagedEndpoint): boolean => armIdentity(e) === armIdentity({ kind, arm });
      const derived = await this.registry.get(deriveEndpointId(arm));
      if (derived && isAt(derived) && !derived.retiredAt) return derived;
      let retired = derived && isAt(derived) ? derived : undefined;
      for await (const endpoint of eachListed((request) => this.registry.listPage(request))) {
        if (!isAt(endpoint)) continue;
        if (!endpoint.retiredAt) return endpoint;
        retired ??= endpoint;
      }
      return retired;
    },
    listPage: async (request: PageRequest, abortSignal?: AbortSignal) => {
      this.signals.push({ call: 'listPage', signal: abortSignal });
      abortSignal?.throwIfAborted();
      this.fail('registry');
      this.pageRequests.push(request);
      const page = keyPage(this.endpoints, request, this.serverPageLimit);
      const inRange = (id: string): boolean =>
        (request.after === undefined || id > request.after) && (page.after === undefined || id <= page.after);
      const unreadable = this.unreadableRows
        .filter(inRange)
        .sort()
        .map((id) => ({ id, why: 'its endpoint column is not JSON' }));
      return unreadable.length > 0 ? { ...page, unreadable } : page;
    },
  };

  readonly jobs = {
    enqueue: async (job: EventsRotationJob, options: { abortSignal?: AbortSignal } = {}) => {
      await this.called('jobs', 'enqueue', options.abortSignal);
      this.enqueued.push(job);
    },
  };

  readonly drift = {
    check: async (endpointId: string, abortSignal?: AbortSignal) => {
      await this.called('drift', 'check', abortSignal);
      this.driftChecks.push(endpointId);
      return this.driftReport;
    },
  };

  readonly admin = {
    register: async (input: EndpointRegistrationInput) => {
      this.fail('admin');
      if (this.endpoints.some((e) => e.id === input.id))
        throw new ConflictError(`Endpoint ${input.id} exists.`);
      // As the admin service: one registration per Azure ML endpoint, and one Key Vault secret per endpoint.
      const at = this.endpoints.find((e) => armIdentity(e) === armIdentity(input));
      if (at) throw new ConflictError(`The endpoint is already registered as ${at.id}.`);
      if (this.endpoints.some((e) => e.secretName.toLowerCase() === input.secretName.toLowerCase()))
        throw new ConflictError(`Secret ${input.secretName} belongs to another endpoint.`);
      this.registered.push(input);
      this.endpoints.push({
        id: input.id,
        kind: input.kind,
        authMode: input.authMode,
        arm: input.arm,
        secretName: input.secretName,
        enabled: true,
      });
      return input;
    },
    retire: async (id: string, at: string, deletedAt?: string) => {
      this.fail('admin');
      const index = this.endpoints.findIndex((e) => e.id === id);
      const existing = this.endpoints[index];
      // As the admin service: an endpoint registered or reinstated after the delete stays in service.
      if (existing && deletedAt !== undefined && registeredAfter(existing, deletedAt)) return undefined;
      this.retired.push({ id, at });
      if (existing) this.endpoints[index] = { ...existing, retiredAt: at };
      return undefined;
    },
    reinstate: async (id: string) => {
      this.fail('admin');
      this.reinstated.push(id);
      const index = this.endpoints.findIndex((e) => e.id === id);
      const existing = this.endpoints[index];
      if (existing) this.endpoints[index] = { ...existing, retiredAt: undefined };
      return undefined;
    },
  };

  readonly secrets = {
    getCurrent: async (name: string, abortSignal?: AbortSignal) => {
      await this.called('secrets', 'getCurrent', abortSignal);
      return this.currentSecrets.get(name);
    },
  };

  /**
   * One call of a reaction's read or write: its signal recorded; one that has fired fails it at once, as it
   * does the SDK adapters' calls (`StorageJsonQueue`, `KeyVaultSecretStore`, the Table reads); then the failure
   * or hang set for `port`.
   */
  private async called(port: PortName, call: string, abortSignal: AbortSignal | undefined): Promise<void> {
    this.signals.push({ call, signal: abortSignal });
    abortSignal?.throwIfAborted();
    this.fail(port);
    if (!this.hangs.delete(port)) return;
    await untilAborted(neverEnds(0), abortSignal);
  }

  private fail(port: PortName): void {
    const error = this.failures.get(port);
    if (error === undefined) return;
    this.failures.delete(port);
    throw error;
  }
}
