import { type Clock, isoNow, untilAborted } from '../clock';
import { type ArmCoordinates, isKnownKind, registeredAfter } from '../endpoints/ManagedEndpoint';
import { IdTally } from '../endpoints/registryWalk';
import { AppError, DependencyFailedError, DependencyUnavailableError } from '../errors';
import { forEachLimited } from '../forEachLimited';
import type { Logger } from '../logging';
import { isTransientError } from '../retry';
import { EndpointNotKnownHereError } from '../rotation/errors';
import type { ArmEndpointKind, EndpointDescriber } from './EndpointDescriber';
import { type EventOutcome, eventOutcome } from './EventOutcome';
import type { EventsManagedEndpoint, EventsRotationPorts } from './EventsRotationPorts';
import type { IncomingEvent } from './IncomingEvent';
import type { ArmScope } from './onlineEndpointResource';
import { registeredIn } from './registeredEndpoints';

/** Options of {@link DeleteRetirement}. */
export interface DeleteRetirementOptions {
  rotation: EventsRotationPorts;
  describer: EndpointDescriber;
  clock: Clock;
  logger: Logger;
  /** ARM checks in flight at once for the endpoints of a deleted workspace or resource group. @default 4 */
  armConcurrency?: number;
}

/** Default of {@link DeleteRetirementOptions.armConcurrency}: a few reads, far below ARM's limits. */
const ARM_CONCURRENCY = 4;

/** The endpoints of a deleted scope not retired: ARM has them again, the budget ran out, or an error. */
type Unfinished = { recreated: EventsManagedEndpoint[]; left: EventsManagedEndpoint[]; errors: unknown[] };

/**
 * Retires registered endpoints on ARM `ResourceDeleteSuccess` events: an online or serverless endpoint's
 * own delete, and its workspace's or resource group's. The secret stays: consumers may still read it
 * while they move on. Event Grid retries a delete for a day and keeps no order, so a delete can arrive
 * after its endpoint was re-created under the same name: one from before the registration (or its
 * reinstatement), or of an endpoint ARM has again, is answered `staleDelete` and retires nothing.
 * Each reaction draws from its delivery's budget (`abortSignal`, from `EventWebhook`): the registry and ARM
 * reads are handed it, and no retirement is begun once it is spent; one begun finishes (a retirement is
 * repeatable: the redelivery finds the endpoint retired).
 */
export class DeleteRetirement {
  constructor(private readonly options: DeleteRetirementOptions) {}

  /** An online or serverless endpoint's own delete (serverless endpoints are registered by hand only). */
  async retireEndpoint(
    event: IncomingEvent,
    coords: ArmCoordinates,
    kind: ArmEndpointKind,
    abortSignal?: AbortSignal,
  ): Promise<EventOutcome> {
    const { rotation, logger, clock } = this.options;
    const existing = await rotation.registry.findByArm(kind, coords, abortSignal);
    if (!existing) return eventOutcome(event, 'notManaged');
    if (!existing.retiredAt) {
      if (deletedBefore(event, existing)) return this.keep(event, [existing], 'registeredAfter');
      const exists = await this.existsAtArm(existing, abortSignal);
      if (exists) return this.keep(event, [existing], 'existsAtArm');
      // A check that answered as the budget ran out: the delivery is answered 503, and nothing begun after.
      abortSignal?.throwIfAborted();
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
   * delivery's budget; those left when it is spent are thrown as unavailable (503), for Event Grid's next
   * delivery, which skips the ones retired by this one: every delivery goes further.
   */
  async retireAllIn(event: IncomingEvent, scope: ArmScope, abortSignal?: AbortSignal): Promise<EventOutcome> {
    const unreadable = new IdTally();
    const inScope = await registeredIn(this.options.rotation.registry, scope, unreadable, abortSignal);
    this.warnUnreadable(scope, unreadable);
    if (inScope.length === 0) return eventOutcome(event, 'notManaged');
    const live = inScope.filter((e) => !e.retiredAt);
    const kept = live.filter((e) => deletedBefore(event, e));
    if (kept.length > 0) this.keep(event, kept, 'registeredAfter');
    const { recreated, left, errors } = await this.retireEach(
      event,
      scope,
      live.filter((e) => !kept.includes(e)),
      abortSignal,
    );
    if (recreated.length > 0) this.keep(event, recreated, 'existsAtArm');
    if (left.length > 0) {
      this.options.logger.warn(
        `autoRegister => ${scopeKind(scope)} deleted, endpoints left for the next delivery (out of time)`,
        {
          left: left.length,
          endpoints: live.length,
          resourceGroup: scope.resourceGroup,
          workspace: scope.workspace,
        },
      );
      // Retried (503), even past a definite "no" for another endpoint: that one answers the same next time.
      errors.unshift(
        new DependencyUnavailableError(
          'arm',
          `${left.length} of the ${live.length} endpoints of the deleted ${scopeKind(scope)} are left for the next delivery.`,
        ),
      );
    }
    if (errors.length > 0) throw errors.find(isRetryable) ?? errors[0];
    const staying = [...kept, ...recreated];
    return staying.length > 0 && staying.length === live.length
      ? eventOutcome(event, 'staleDelete', staying.length === 1 ? staying[0]?.id : undefined)
      : eventOutcome(event, 'retired');
  }

  /**
   * Sums up the rows the walk skipped as unreadable (the registry warned about each, with what is wrong): their
   * coordinates cannot be read, so whether they were of the deleted scope is not known, and such an endpoint
   * stays in service until a person mends or DELETEs its row. One line per delivery, with the first ids.
   */
  private warnUnreadable(scope: ArmScope, unreadable: IdTally): void {
    if (unreadable.count === 0) return;
    this.options.logger.warn(
      `autoRegister => ${scopeKind(scope)} deleted, rows skipped as unreadable left as they are`,
      { ...unreadable.logged('unreadable'), resourceGroup: scope.resourceGroup, workspace: scope.workspace },
    );
  }

  /**
   * Retires each endpoint of the deleted scope that ARM no longer has, a few at a time within the delivery's
   * budget; returns those it did not retire: re-created since, left when the budget ran out, or failed.
   */
  private async retireEach(
    event: IncomingEvent,
    scope: ArmScope,
    endpoints: readonly EventsManagedEndpoint[],
    abortSignal: AbortSignal | undefined,
  ): Promise<Unfinished> {
    const { rotation, logger, clock } = this.options;
    const unfinished: Unfinished = { recreated: [], left: [], errors: [] };
    await forEachLimited(endpoints, this.options.armConcurrency ?? ARM_CONCURRENCY, async (endpoint) => {
      try {
        // Out of time (before its check, or as the check answered): left for the next delivery, which
        // skips the ones retired by this one.
        abortSignal?.throwIfAborted();
        // The scope's delete took its endpoints with it: one ARM has now was created since.
        if (await this.existsAtArm(endpoint, abortSignal)) {
          unfinished.recreated.push(endpoint);
          return;
        }
        abortSignal?.throwIfAborted();
        await rotation.admin.retire(endpoint.id, isoNow(clock), event.time);
        logger.info(`autoRegister => ${scopeKind(scope)} deleted, endpoint retired, secret left in place`, {
          endpointId: endpoint.id,
          resourceGroup: scope.resourceGroup,
          workspace: scope.workspace,
        });
      } catch (error) {
        if (abortSignal?.aborted && error === abortSignal.reason) unfinished.left.push(endpoint);
        else unfinished.errors.push(error);
      }
    });
    return unfinished;
  }

  /**
   * Whether ARM has the endpoint now, asked before a delete retires it: Event Grid retries a delete for a
   * day and does not keep order, so the delete of an endpoint since re-created under the same name (whose
   * write found its registration still in service) may come last, and no time in the registration tells
   * it from a current one. A v1 web service is no ARM resource: not asked. A definite refusal (403: the
   * app's role was on the deleted workspace or group, and went with it) takes the delete at its word
   * rather than failing every delivery for a day and leaving the endpoint in service; ARM unavailable
   * (throttled, down) is thrown, so that Event Grid delivers the delete again.
   */
  private async existsAtArm(
    endpoint: EventsManagedEndpoint,
    abortSignal: AbortSignal | undefined,
  ): Promise<boolean> {
    // A kind a newer version registered (a rolling deployment): which resource to ask for is not known here,
    // and asking for an online endpoint of that name answers another question. Temporary: Event Grid
    // delivers the delete again, perhaps to an instance that knows the kind.
    if (!isKnownKind(endpoint.kind))
      throw new EndpointNotKnownHereError(endpoint.id, 'kind', String(endpoint.kind));
    if (endpoint.kind === 'v1WebService') return false;
    try {
      // Handed the delivery's budget, and raced with it: a check ARM holds past it (a `Retry-After` waited
      // out) is given up even where the signal does not reach the wait, and its answer is not used.
      const exists = this.options.describer.exists(endpoint.kind, endpoint.arm, abortSignal);
      return await untilAborted(exists, abortSignal);
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

/** An error Event Grid's next delivery may not meet: thrown first, so that the event is retried. */
function isRetryable(error: unknown): boolean {
  return isTransientError(error) || (error instanceof AppError && error.temporary === true);
}

/** What a deleted scope is, as log lines and errors name it. */
function scopeKind(scope: ArmScope): 'workspace' | 'resource group' {
  return scope.workspace === undefined ? 'resource group' : 'workspace';
}
