import { type Clock, isoNow, TimeLimitError, untilAborted } from '../clock';
import { type ArmCoordinates, isKnownKind, registeredAfter, unknownHere } from '../endpoints/ManagedEndpoint';
import { AppError, ConflictError, DependencyFailedError, DependencyUnavailableError } from '../errors';
import { forEachLimited } from '../forEachLimited';
import { eachListed } from '../listPages';
import type { Logger } from '../logging';
import { errorName } from '../networkErrors';
import { isTransientError } from '../retry';
import { EndpointNotKnownHereError } from '../rotation/errors';
import type { ArmEndpointKind, EndpointDescriber } from './EndpointDescriber';
import { type EventOutcome, eventOutcome } from './EventOutcome';
import type { EventsManagedEndpoint, EventsRotationPorts } from './EventsRotationPorts';
import { EVENT_TYPES, type IncomingEvent } from './IncomingEvent';
import { readString } from './lenientData';
import {
  type ArmScope,
  deriveEndpointId,
  deriveSecretName,
  matchesAutoRegisterFilter,
  parseOnlineEndpointId,
  parseResourceGroupId,
  parseServerlessEndpointId,
  parseWorkspaceId,
  sameEndpoint,
  withinScope,
} from './onlineEndpointResource';

/** Options of {@link EndpointAutoRegistrar}. */
export interface EndpointAutoRegistrarOptions {
  rotation: EventsRotationPorts;
  describer: EndpointDescriber;
  clock: Clock;
  logger: Logger;
  /** `AUTO_REGISTER_ENABLED`. @default false */
  enabled: boolean;
  /** `AUTO_REGISTER_TAG` (see `matchesAutoRegisterFilter`). */
  filter: string;
  /**
   * How long a delete's ARM checks may take before the webhook answers: Event Grid waits 30 s for it, then
   * delivers the event again. @default 20000
   */
  budgetMs?: number;
  /** ARM checks in flight at once for the endpoints of a deleted workspace or resource group. @default 4 */
  armConcurrency?: number;
}

/** Default of {@link EndpointAutoRegistrarOptions.budgetMs}: Event Grid's 30 s, less room for the rest. */
const DELETE_BUDGET_MS = 20_000;
/** Default of {@link EndpointAutoRegistrarOptions.armConcurrency}: a few reads, far below ARM's limits. */
const ARM_CONCURRENCY = 4;

/**
 * Registers new `Key` online endpoints for rotation from `ModelDeployed` and ARM
 * `ResourceWriteSuccess` events, and retires registered ones on `ResourceDeleteSuccess` of the endpoint
 * (online, or serverless registered by hand), of its workspace or of its resource group (the secret stays: consumers may still read it while they
 * move on); a retired endpoint that ARM describes again is reinstated (a serverless one on its own write). Off unless switched on. Idempotent: the registry is checked first, and a registration
 * conflict counts as already registered when the endpoint now registered at those coordinates is this
 * one. The endpoint is described at ARM (not trusted from the event), so a reordered write after a
 * delete finds nothing.
 */
export class EndpointAutoRegistrar {
  constructor(private readonly options: EndpointAutoRegistrarOptions) {}

  /** Handles one ML/ARM event already known to be of a handled type. */
  async handle(event: IncomingEvent): Promise<EventOutcome> {
    const scope = deletedScopeOf(event);
    if (scope) {
      if (!this.options.enabled) return eventOutcome(event, 'autoRegisterDisabled');
      return this.retireAllIn(event, scope);
    }
    const deleted = deletedEndpointOf(event);
    if (deleted) {
      if (!this.options.enabled) return eventOutcome(event, 'autoRegisterDisabled');
      return this.retire(event, deleted.coords, deleted.kind);
    }
    const serverless = writtenServerlessEndpointOf(event);
    if (serverless) {
      if (!this.options.enabled) return eventOutcome(event, 'autoRegisterDisabled');
      return this.reinstateServerless(event, serverless);
    }
    const coords = coordinatesOf(event);
    if (!coords) return eventOutcome(event, 'ignored');
    if (!this.options.enabled) return eventOutcome(event, 'autoRegisterDisabled');
    return this.register(event, coords);
  }

  private async register(event: IncomingEvent, coords: ArmCoordinates): Promise<EventOutcome> {
    const { rotation, describer, logger } = this.options;
    const existing = await this.registered(coords);
    if (existing && !existing.retiredAt) return eventOutcome(event, 'alreadyRegistered', existing.id);
    const description = await describer.describe(coords);
    if (!description) return eventOutcome(event, 'notAnOnlineEndpoint');
    // Whether a retired endpoint is taken back depends on its auth mode: one a newer version registered with
    // an auth mode this version does not know is left to a version that knows it (temporary: Event Grid
    // delivers the event again), neither reinstated nor acknowledged as notKeyAuth here.
    const unknown = existing && unknownHere(existing);
    if (existing && unknown)
      throw new EndpointNotKnownHereError(existing.id, unknown, String(existing[unknown]));
    if (description.authMode !== 'Key') return eventOutcome(event, 'notKeyAuth');
    // The endpoint's own tags at ARM only: a ModelDeployed event's ServiceTags are a v1 service's (which
    // may share the name) or whatever a caller with the function key sent, and must not opt anyone in.
    if (!matchesAutoRegisterFilter(this.options.filter, coords.name, description.tags))
      return eventOutcome(event, 'filteredOut');
    if (existing) return this.reinstate(event, existing);
    const id = deriveEndpointId(coords);
    try {
      await rotation.admin.register({
        id,
        kind: 'onlineEndpoint',
        arm: coords,
        authMode: 'Key',
        secretName: deriveSecretName(id),
      });
    } catch (error) {
      // A twin delivery registered this endpoint meanwhile. Any other conflict (a workspace of the same
      // name in another resource group took the id, or another endpoint owns the secret name) is
      // rethrown: the router acknowledges it as `rejected` and logs it, as this endpoint is not rotated.
      const twin = error instanceof ConflictError && (await this.registered(coords));
      if (twin) return eventOutcome(event, 'alreadyRegistered', twin.id);
      throw error;
    }
    logger.info('autoRegister => registered', {
      endpointId: id,
      workspace: coords.workspace,
      name: coords.name,
    });
    return eventOutcome(event, 'registered', id);
  }

  /**
   * A serverless endpoint's write: one registered by hand and retired by a delete is reinstated as a
   * re-created online endpoint is, once ARM has it again with keys (a write delivered after the delete finds
   * it gone). None is registered from an event: serverless endpoints are registered by hand.
   */
  private async reinstateServerless(event: IncomingEvent, coords: ArmCoordinates): Promise<EventOutcome> {
    const existing = await this.registered(coords, 'serverlessEndpoint');
    if (!existing) return eventOutcome(event, 'notManaged');
    if (!existing.retiredAt) return eventOutcome(event, 'alreadyRegistered', existing.id);
    const description = await this.options.describer.describe(coords, 'serverlessEndpoint');
    if (!description) return eventOutcome(event, 'ignored');
    // `KeyAndAad` has keys too; `Aad` alone has none to rotate.
    if (!/^key(andaad)?$/i.test(description.authMode)) return eventOutcome(event, 'notKeyAuth', existing.id);
    return this.reinstate(event, existing);
  }

  /**
   * The endpoint was deleted in Azure (so retired here) and ARM now describes it again: it was re-created
   * under the same name, with new keys, and the Key Vault secret still holds a deleted key. It is rotated
   * again from now on, and a `drift` job is queued at once: the rotation finds Key Vault matching neither
   * key and fails with `DRIFT_DETECTED` (a `RotationFailed` event and the status's `lastError` name the
   * fix), since which key clients should get is a person's call, not a guess; if someone already wrote
   * a current key, it rotates as usual.
   */
  private async reinstate(event: IncomingEvent, endpoint: EventsManagedEndpoint): Promise<EventOutcome> {
    const { rotation, logger, clock } = this.options;
    await rotation.admin.reinstate(endpoint.id);
    try {
      await rotation.jobs.enqueue({
        endpointId: endpoint.id,
        reason: 'drift',
        requestedAt: isoNow(clock),
      });
    } catch (error) {
      // Retired again, as it was: Event Grid's retry (a 503) must come this way again, whereas finding the
      // endpoint in service it would answer alreadyRegistered and the drift job would never be queued.
      await rotation.admin.retire(endpoint.id, endpoint.retiredAt ?? isoNow(clock)).catch((undo: unknown) =>
        logger.error('autoRegister => reinstated, but its drift check could not be queued', {
          endpointId: endpoint.id,
          error: errorName(undo),
        }),
      );
      throw error;
    }
    logger.warn('autoRegister => re-created endpoint reinstated, drift check queued', {
      endpointId: endpoint.id,
      retiredAt: endpoint.retiredAt,
    });
    return eventOutcome(event, 'reinstated', endpoint.id);
  }

  /**
   * The registered endpoint of `kind` (an online endpoint unless said) at these ARM coordinates, whatever
   * its id, one in service before a retired one: a v1 web service or endpoint of another kind of the same
   * name in the workspace is another resource. The id auto-registration gives it is read first, one point
   * read for the events about an endpoint it registered (every later write of that endpoint raises one);
   * the registry is walked page by page only when that finds none in service (a new endpoint, one
   * registered by hand under another id, a retired one), and stops at the first in service.
   */
  private async registered(
    coords: ArmCoordinates,
    kind: ArmEndpointKind = 'onlineEndpoint',
  ): Promise<EventsManagedEndpoint | undefined> {
    const { registry } = this.options.rotation;
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

  /** An online or serverless endpoint's own delete (serverless endpoints are registered by hand only). */
  private async retire(
    event: IncomingEvent,
    coords: ArmCoordinates,
    kind: ArmEndpointKind,
  ): Promise<EventOutcome> {
    const { rotation, logger, clock } = this.options;
    const existing = await this.registered(coords, kind);
    if (!existing) return eventOutcome(event, 'notManaged');
    if (!existing.retiredAt) {
      if (deletedBefore(event, existing)) return this.keep(event, [existing], 'registeredAfter');
      const exists = await this.withinBudget((budget) => this.existsAtArm(existing, budget));
      if (exists) return this.keep(event, [existing], 'existsAtArm');
      await rotation.admin.retire(existing.id, isoNow(clock), event.time);
      logger.info('autoRegister => retired, secret left in place', { endpointId: existing.id });
    }
    return eventOutcome(event, 'retired', existing.id);
  }

  /**
   * A deleted workspace takes its inference endpoints with it (hard-deleted, even when the workspace is
   * only soft-deleted), and a deleted resource group its workspaces, and ARM raises no delete event for
   * each of them: every endpoint registered in the scope, whatever its kind, is retired as its own delete
   * would retire it. One that cannot be retired (declared in ENDPOINTS_FILE, say) does not keep the
   * others in service; its error is thrown after them, a retryable one first, so that the router retries
   * the event or acknowledges it as `rejected`. The endpoints are checked at ARM a few at a time within the
   * budget; those left when it is spent are thrown as unavailable (503), for Event Grid's next delivery,
   * which skips the ones retired by this one: every delivery goes further.
   */
  private async retireAllIn(event: IncomingEvent, scope: ArmScope): Promise<EventOutcome> {
    const { rotation, logger, clock } = this.options;
    // Only the scope's endpoints are kept from the walk: a page of the registry at a time.
    const inScope: EventsManagedEndpoint[] = [];
    for await (const endpoint of eachListed((request) => rotation.registry.listPage(request)))
      if (withinScope(endpoint.arm, scope)) inScope.push(endpoint);
    if (inScope.length === 0) return eventOutcome(event, 'notManaged');
    const live = inScope.filter((e) => !e.retiredAt);
    const kept = live.filter((e) => deletedBefore(event, e));
    if (kept.length > 0) this.keep(event, kept, 'registeredAfter');
    const recreated: EventsManagedEndpoint[] = [];
    const left: EventsManagedEndpoint[] = [];
    const errors: unknown[] = [];
    const what = scope.workspace === undefined ? 'resource group' : 'workspace';
    await this.withinBudget((budget) =>
      forEachLimited(
        live.filter((e) => !kept.includes(e)),
        this.options.armConcurrency ?? ARM_CONCURRENCY,
        async (endpoint) => {
          // Out of time: left for the next delivery, which skips the ones retired by this one.
          if (budget.aborted) {
            left.push(endpoint);
            return;
          }
          try {
            // The scope's delete took its endpoints with it: one ARM has now was created since.
            if (await this.existsAtArm(endpoint, budget)) {
              recreated.push(endpoint);
              return;
            }
            await rotation.admin.retire(endpoint.id, isoNow(clock), event.time);
            logger.info(`autoRegister => ${what} deleted, endpoint retired, secret left in place`, {
              endpointId: endpoint.id,
              resourceGroup: scope.resourceGroup,
              workspace: scope.workspace,
            });
          } catch (error) {
            if (budget.aborted && error === budget.reason) left.push(endpoint);
            else errors.push(error);
          }
        },
      ),
    );
    const retryable = (e: unknown) => isTransientError(e) || (e instanceof AppError && e.temporary === true);
    if (recreated.length > 0) this.keep(event, recreated, 'existsAtArm');
    if (left.length > 0) {
      logger.warn(`autoRegister => ${what} deleted, endpoints left for the next delivery (out of time)`, {
        left: left.length,
        endpoints: live.length,
        resourceGroup: scope.resourceGroup,
        workspace: scope.workspace,
      });
      // Retried (503), even past a definite "no" for another endpoint: that one answers the same next time.
      errors.unshift(
        new DependencyUnavailableError(
          'arm',
          `${left.length} of the ${live.length} endpoints of the deleted ${what} are left for the next delivery.`,
        ),
      );
    }
    if (errors.length > 0) throw errors.find(retryable) ?? errors[0];
    const staying = [...kept, ...recreated];
    return staying.length > 0 && staying.length === live.length
      ? eventOutcome(event, 'staleDelete', staying.length === 1 ? staying[0]?.id : undefined)
      : eventOutcome(event, 'retired');
  }

  /**
   * Whether ARM has the endpoint now, asked before a delete retires it: Event Grid retries a delete for a
   * day and does not keep order, so the delete of an endpoint since re-created under the same name (whose
   * write found its registration still in service) may come last, and no time in the registration tells
   * it from a current one. A v1 web service is no ARM resource: not asked. A definite refusal (403: the
   * app's role was on the deleted workspace or group, and went with it) takes the delete at its word, as
   * before this check, rather than failing every delivery for a day and leaving the endpoint in service;
   * ARM unavailable (throttled, down) is thrown, so that Event Grid delivers the delete again.
   */
  private async existsAtArm(endpoint: EventsManagedEndpoint, budget: AbortSignal): Promise<boolean> {
    // A kind a newer version registered (a rolling deployment): which resource to ask for is not known here,
    // and asking for an online endpoint of that name answers another question. Temporary: Event Grid
    // delivers the delete again, perhaps to an instance that knows the kind.
    if (!isKnownKind(endpoint.kind))
      throw new EndpointNotKnownHereError(endpoint.id, 'kind', String(endpoint.kind));
    if (endpoint.kind === 'v1WebService') return false;
    try {
      // A check ARM holds past the budget (a `Retry-After` waited out) is given up: its answer is not used.
      return await untilAborted(this.options.describer.exists(endpoint.kind, endpoint.arm), budget);
    } catch (error) {
      if (!(error instanceof DependencyFailedError)) throw error;
      this.options.logger.warn(
        'autoRegister => ARM refused to say whether the endpoint exists, retired on the delete alone',
        { endpointId: endpoint.id, status: error.dependencyStatus },
      );
      return false;
    }
  }

  /**
   * Runs `work` with a signal that fires (a `TimeLimitError`, transient: the webhook answers 503) once the
   * delete's budget is spent, so that the answer reaches Event Grid within its 30 s and the event is
   * delivered again, rather than answered late and delivered again while it still runs.
   */
  private async withinBudget<T>(work: (budget: AbortSignal) => Promise<T>): Promise<T> {
    const budgetMs = this.options.budgetMs ?? DELETE_BUDGET_MS;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new TimeLimitError(budgetMs)), budgetMs);
    try {
      return await work(controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A delete delivered after the endpoint was registered or reinstated (Event Grid retries for a day, and
   * does not keep order), or while ARM has the endpoint again, was of the resource before it was
   * re-created: what is registered now stays.
   */
  private keep(
    event: IncomingEvent,
    kept: readonly EventsManagedEndpoint[],
    why: 'registeredAfter' | 'existsAtArm',
  ): EventOutcome {
    this.options.logger.info(
      why === 'registeredAfter'
        ? 'autoRegister => delete older than the registration, endpoint kept in service'
        : 'autoRegister => endpoint exists at ARM again, delete was of the one before, kept in service',
      { endpointId: kept.map((e) => e.id).join(','), deletedAt: event.time },
    );
    return eventOutcome(event, 'staleDelete', kept.length === 1 ? kept[0]?.id : undefined);
  }
}

/** True when `event` (a delete) happened before `endpoint` was registered or reinstated. */
function deletedBefore(event: IncomingEvent, endpoint: EventsManagedEndpoint): boolean {
  return event.time !== undefined && registeredAfter(endpoint, event.time);
}

/**
 * The workspace or resource group a `ResourceDeleteSuccess` event says was deleted (its resource id in
 * `data.resourceUri` or the subject; a resource group's delete names the group itself).
 */
function deletedScopeOf(event: IncomingEvent): ArmScope | undefined {
  if (event.type !== EVENT_TYPES.resourceDeleteSuccess) return undefined;
  const resourceId = readString(event.data, 'resourceUri') ?? event.subject;
  return parseWorkspaceId(resourceId) ?? parseResourceGroupId(resourceId);
}

/**
 * The online or serverless endpoint a `ResourceDeleteSuccess` event says was deleted (its resource id in
 * `data.resourceUri` or the subject). v1 web services are not ARM resources: ARM raises nothing for them.
 */
function deletedEndpointOf(
  event: IncomingEvent,
): { kind: ArmEndpointKind; coords: ArmCoordinates } | undefined {
  if (event.type !== EVENT_TYPES.resourceDeleteSuccess) return undefined;
  const resourceId = readString(event.data, 'resourceUri') ?? event.subject;
  const online = parseOnlineEndpointId(resourceId);
  if (online) return { kind: 'onlineEndpoint', coords: online };
  const serverless = parseServerlessEndpointId(resourceId);
  return serverless ? { kind: 'serverlessEndpoint', coords: serverless } : undefined;
}

/** The serverless endpoint a `ResourceWriteSuccess` names (`…/workspaces/{ws}/serverlessEndpoints/{name}`). */
function writtenServerlessEndpointOf(event: IncomingEvent): ArmCoordinates | undefined {
  if (event.type !== EVENT_TYPES.resourceWriteSuccess) return undefined;
  return parseServerlessEndpointId(readString(event.data, 'resourceUri') ?? event.subject);
}

/**
 * The online endpoint a write names: ARM events in `data.resourceUri` (and the subject), ML events by
 * workspace + service. Only online endpoints are registered from events.
 */
function coordinatesOf(event: IncomingEvent): ArmCoordinates | undefined {
  if (event.type !== EVENT_TYPES.modelDeployed) {
    return parseOnlineEndpointId(readString(event.data, 'resourceUri') ?? event.subject);
  }
  const workspace = parseWorkspaceId(event.source);
  const name = readString(event.data, 'ServiceName') ?? /^endpoints\/(.+)$/.exec(event.subject)?.[1];
  return workspace && name ? { ...workspace, name } : undefined;
}
