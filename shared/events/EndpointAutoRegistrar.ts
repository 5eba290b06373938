import { isoNow } from '../clock';
import { hasKeyAuth, servesAuthMode } from '../endpoints/armAuthMode';
import type { ArmCoordinates } from '../endpoints/ManagedEndpoint';
import { ConflictError } from '../errors';
import { errorName } from '../networkErrors';
import { requireKnownHere } from '../rotation/errors';
import { DeleteRetirement, type DeleteRetirementOptions } from './DeleteRetirement';
import type { ArmEndpointKind, EndpointDescription } from './EndpointDescriber';
import { type EventOutcome, eventOutcome } from './EventOutcome';
import type { EventsManagedEndpoint } from './EventsRotationPorts';
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
} from './onlineEndpointResource';

/** Options of {@link EndpointAutoRegistrar}. */
export interface EndpointAutoRegistrarOptions extends DeleteRetirementOptions {
  /** `AUTO_REGISTER_ENABLED`. @default false */
  enabled: boolean;
  /** `AUTO_REGISTER_TAG` (see `matchesAutoRegisterFilter`). */
  filter: string;
}

/**
 * Registers new `Key` online endpoints for rotation from `ModelDeployed` and ARM
 * `ResourceWriteSuccess` events, and retires registered ones on `ResourceDeleteSuccess` of the endpoint
 * (online, or serverless registered by hand), of its workspace or of its resource group (see
 * {@link DeleteRetirement}); a retired endpoint that ARM describes again is reinstated (a serverless one
 * on its own write; one registered by hand for tokens while ARM shows the auth mode it was registered
 * for). Off unless switched on. Idempotent: the registry is checked first, and a
 * registration conflict counts as already registered when the endpoint now registered at those
 * coordinates is this one. The endpoint is described at ARM (not trusted from the event), so a reordered
 * write after a delete finds nothing. Each reaction draws from its delivery's budget (`abortSignal`, from
 * `EventWebhook`): the registry and ARM reads and the job enqueue are handed it, and no registry write is
 * begun once it is spent; one begun finishes, as each is repeatable on redelivery (see `EventsRotationPorts`).
 */
export class EndpointAutoRegistrar {
  private readonly retirement: DeleteRetirement;

  constructor(private readonly options: EndpointAutoRegistrarOptions) {
    this.retirement = new DeleteRetirement(options);
  }

  /**
   * Handles one ML/ARM event already known to be of a handled type.
   * @param abortSignal - the delivery's budget (`EventWebhook`)
   */
  async handle(event: IncomingEvent, abortSignal?: AbortSignal): Promise<EventOutcome> {
    const reaction = this.reactionTo(event, abortSignal);
    if (!reaction) return eventOutcome(event, 'ignored');
    if (!this.options.enabled) return eventOutcome(event, 'autoRegisterDisabled');
    return reaction();
  }

  /** What the event asks of auto-registration, by the resource it names; undefined when nothing. */
  private reactionTo(
    event: IncomingEvent,
    abortSignal: AbortSignal | undefined,
  ): (() => Promise<EventOutcome>) | undefined {
    const scope = deletedScopeOf(event);
    if (scope) return () => this.retirement.retireAllIn(event, scope, abortSignal);
    const deleted = deletedEndpointOf(event);
    if (deleted)
      return () => this.retirement.retireEndpoint(event, deleted.coords, deleted.kind, abortSignal);
    const serverless = writtenServerlessEndpointOf(event);
    if (serverless) return () => this.reinstateServerless(event, serverless, abortSignal);
    const coords = writtenOnlineEndpointOf(event);
    if (coords) return () => this.register(event, coords, abortSignal);
    return undefined;
  }

  private async register(
    event: IncomingEvent,
    coords: ArmCoordinates,
    abortSignal: AbortSignal | undefined,
  ): Promise<EventOutcome> {
    const { rotation, describer, logger } = this.options;
    const existing = await rotation.registry.findByArm('onlineEndpoint', coords, abortSignal);
    if (existing && !existing.retiredAt) return eventOutcome(event, 'alreadyRegistered', existing.id);
    const description = await describer.describe(coords, 'onlineEndpoint', abortSignal);
    if (!description) return eventOutcome(event, 'notAnOnlineEndpoint');
    // Whether a retired endpoint is taken back depends on its auth mode: one a newer version registered with
    // an auth mode this version does not know is left to a version that knows it (temporary: Event Grid
    // delivers the event again), neither reinstated nor acknowledged as notKeyAuth here.
    if (existing) requireKnownHere(existing);
    if (existing && existing.authMode !== 'Key')
      return this.reinstateForTokens(event, existing, description, abortSignal);
    if (!hasKeyAuth(description.authMode)) return eventOutcome(event, 'notKeyAuth');
    // The endpoint's own tags at ARM only: a ModelDeployed event's ServiceTags are a v1 service's (which
    // may share the name) or whatever a caller with the function key sent, and must not opt anyone in.
    if (!matchesAutoRegisterFilter(this.options.filter, coords.name, description.tags))
      return eventOutcome(event, 'filteredOut');
    if (existing) return this.reinstate(event, existing, abortSignal);
    const id = deriveEndpointId(coords);
    // Begun only within the budget; once begun it finishes: a redelivery finds it `alreadyRegistered`.
    abortSignal?.throwIfAborted();
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
      const twin =
        error instanceof ConflictError &&
        (await rotation.registry.findByArm('onlineEndpoint', coords, abortSignal));
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
   * re-created online endpoint is, once ARM has it again with `Key` auth, or for a token registration with the
   * auth mode it was registered for (a write delivered after the delete finds it gone). None is registered
   * from an event: serverless endpoints are registered by hand.
   */
  private async reinstateServerless(
    event: IncomingEvent,
    coords: ArmCoordinates,
    abortSignal: AbortSignal | undefined,
  ): Promise<EventOutcome> {
    const { rotation, describer } = this.options;
    const existing = await rotation.registry.findByArm('serverlessEndpoint', coords, abortSignal);
    if (!existing) return eventOutcome(event, 'notManaged');
    if (!existing.retiredAt) return eventOutcome(event, 'alreadyRegistered', existing.id);
    const description = await describer.describe(coords, 'serverlessEndpoint', abortSignal);
    if (!description) return eventOutcome(event, 'ignored');
    requireKnownHere(existing);
    if (existing.authMode !== 'Key')
      return this.reinstateForTokens(event, existing, description, abortSignal);
    // As the rotator and a registration judge it (exactly `Key`): `AAD` has no keys and `KeyAndAAD` is not
    // rotated, so one taken back would fail every run with AUTH_MODE_NOT_KEY, as a POST of it is refused.
    if (!hasKeyAuth(description.authMode)) return eventOutcome(event, 'notKeyAuth', existing.id);
    return this.reinstate(event, existing, abortSignal);
  }

  /**
   * A retired registration for tokens (`AMLToken`, `AADToken`: made by hand, as none is made from an event)
   * whose endpoint ARM has again: it was deleted in Azure and re-created under the same name, and only a
   * delete retires a registration. It is served again when ARM shows the auth mode it was registered for;
   * the opt-in filter is not asked, as a person chose the endpoint. One re-created with another auth mode
   * stays retired (`authModeChanged`): the broker would vend a credential the endpoint no longer takes, or
   * a token of a kind nobody registered it for. No drift job: there is no key. The admin service's change
   * hook drops what the broker on this instance cached about it (`Services.forgetBrokeredEndpoint`).
   */
  private async reinstateForTokens(
    event: IncomingEvent,
    endpoint: EventsManagedEndpoint,
    description: EndpointDescription,
    abortSignal: AbortSignal | undefined,
  ): Promise<EventOutcome> {
    const { rotation, logger } = this.options;
    if (!servesAuthMode(endpoint, description.authMode)) {
      logger.warn(
        'autoRegister => re-created endpoint has another auth mode than its registration, left retired',
        {
          endpointId: endpoint.id,
          registeredAuthMode: endpoint.authMode,
          armAuthMode: description.authMode,
        },
      );
      return eventOutcome(event, 'authModeChanged', endpoint.id);
    }
    // Begun only within the budget; once begun it finishes: a redelivery finds it `alreadyRegistered`.
    abortSignal?.throwIfAborted();
    await rotation.admin.reinstate(endpoint.id);
    logger.info('autoRegister => re-created endpoint reinstated, its tokens brokered again', {
      endpointId: endpoint.id,
      retiredAt: endpoint.retiredAt,
    });
    return eventOutcome(event, 'reinstated', endpoint.id);
  }

  /**
   * The endpoint was deleted in Azure (so retired here) and ARM now describes it again: it was re-created
   * under the same name, with new keys, and the Key Vault secret still holds a deleted key. It is rotated
   * again from now on, and a `drift` job is queued at once: the rotation finds Key Vault matching neither
   * key and fails with `DRIFT_DETECTED` (a `RotationFailed` event and the status's `lastError` name the
   * fix), since which key clients should get is a person's call, not a guess; if someone already wrote
   * a current key, it rotates as usual.
   */
  private async reinstate(
    event: IncomingEvent,
    endpoint: EventsManagedEndpoint,
    abortSignal: AbortSignal | undefined,
  ): Promise<EventOutcome> {
    const { rotation, logger, clock } = this.options;
    abortSignal?.throwIfAborted();
    await rotation.admin.reinstate(endpoint.id);
    try {
      // Given up with the delivery's budget (one the queue took stays: duplicate jobs are harmless).
      await rotation.jobs.enqueue(
        { endpointId: endpoint.id, reason: 'drift', requestedAt: isoNow(clock) },
        { abortSignal },
      );
    } catch (error) {
      // Retired again, as it was: Event Grid's retry (a 503) must come this way again, whereas finding the
      // endpoint in service it would answer alreadyRegistered and the drift job would never be queued. Not
      // cut by the budget, even spent: it undoes a write that landed.
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
}

/** The ARM resource id an ARM event is about: `data.resourceUri`, else the subject. */
function resourceIdOf(event: IncomingEvent): string {
  return readString(event.data, 'resourceUri') ?? event.subject;
}

/**
 * The workspace or resource group a `ResourceDeleteSuccess` event says was deleted (a resource group's
 * delete names the group itself).
 */
function deletedScopeOf(event: IncomingEvent): ArmScope | undefined {
  if (event.type !== EVENT_TYPES.resourceDeleteSuccess) return undefined;
  const resourceId = resourceIdOf(event);
  return parseWorkspaceId(resourceId) ?? parseResourceGroupId(resourceId);
}

/**
 * The online or serverless endpoint a `ResourceDeleteSuccess` event says was deleted. v1 web services
 * are not ARM resources: ARM raises nothing for them.
 */
function deletedEndpointOf(
  event: IncomingEvent,
): { kind: ArmEndpointKind; coords: ArmCoordinates } | undefined {
  if (event.type !== EVENT_TYPES.resourceDeleteSuccess) return undefined;
  const resourceId = resourceIdOf(event);
  const online = parseOnlineEndpointId(resourceId);
  if (online) return { kind: 'onlineEndpoint', coords: online };
  const serverless = parseServerlessEndpointId(resourceId);
  return serverless ? { kind: 'serverlessEndpoint', coords: serverless } : undefined;
}

/** The serverless endpoint a `ResourceWriteSuccess` names (`…/workspaces/{ws}/serverlessEndpoints/{name}`). */
function writtenServerlessEndpointOf(event: IncomingEvent): ArmCoordinates | undefined {
  if (event.type !== EVENT_TYPES.resourceWriteSuccess) return undefined;
  return parseServerlessEndpointId(resourceIdOf(event));
}

/**
 * The online endpoint a write names: ARM events by their resource id, ML events by workspace + service.
 * Only online endpoints are registered from events.
 */
function writtenOnlineEndpointOf(event: IncomingEvent): ArmCoordinates | undefined {
  if (event.type !== EVENT_TYPES.modelDeployed) return parseOnlineEndpointId(resourceIdOf(event));
  const workspace = parseWorkspaceId(event.source);
  const name = readString(event.data, 'ServiceName') ?? /^endpoints\/(.+)$/.exec(event.subject)?.[1];
  return workspace && name ? { ...workspace, name } : undefined;
}
