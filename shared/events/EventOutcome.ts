import type { IncomingEvent } from './IncomingEvent';

/** What the app did with one event (reported per event in the webhook's 200 body and in telemetry). */
export const EVENT_ACTIONS = [
  'rotationEnqueued',
  'staleVersion',
  'notManaged',
  'endpointInactive',
  'ownWrite',
  'inSync',
  'rotationInProgress',
  'driftDetected',
  'registered',
  'alreadyRegistered',
  'retired',
  'staleDelete',
  'reinstated',
  'autoRegisterDisabled',
  'filteredOut',
  'notKeyAuth',
  'authModeChanged',
  'notAnOnlineEndpoint',
  'ignored',
  'unknownType',
  'duplicate',
  'rejected',
] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

/** The result of handling one event. */
export interface EventOutcome {
  readonly id: string;
  readonly type: string;
  readonly action: EventAction;
  readonly endpointId?: string;
}

/** The outcome of `event`: `action`, and the endpoint it concerned when there is one. */
export function eventOutcome(event: IncomingEvent, action: EventAction, endpointId?: string): EventOutcome {
  return { id: event.id, type: event.type, action, ...(endpointId ? { endpointId } : {}) };
}
