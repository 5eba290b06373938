/** The two envelope schemas Event Grid delivers. */
export const EVENT_SCHEMAS = ['eventGrid', 'cloudEvents'] as const;
export type EventSchema = (typeof EVENT_SCHEMAS)[number];

/**
 * One delivered event, normalised from either schema: Event Grid (`eventType`, `eventTime`, `topic`)
 * or CloudEvents 1.0 (`type`, `time`, `source`). `data` stays raw: its field casing varies (see
 * `lenientData.ts`).
 */
export interface IncomingEvent {
  readonly schema: EventSchema;
  readonly id: string;
  readonly type: string;
  /** Event Grid `topic` or CloudEvents `source` (a resource id for Azure system events). */
  readonly source: string;
  readonly subject: string;
  /** ISO time as sent, when sent. */
  readonly time?: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** What the webhook must do with a parsed delivery. */
export type Delivery =
  | { readonly kind: 'validation'; readonly validationCode: string }
  | { readonly kind: 'events'; readonly events: readonly IncomingEvent[] };

/** Event types this app reacts to. */
export const EVENT_TYPES = {
  subscriptionValidation: 'Microsoft.EventGrid.SubscriptionValidationEvent',
  secretNearExpiry: 'Microsoft.KeyVault.SecretNearExpiry',
  secretExpired: 'Microsoft.KeyVault.SecretExpired',
  secretNewVersionCreated: 'Microsoft.KeyVault.SecretNewVersionCreated',
  modelDeployed: 'Microsoft.MachineLearningServices.ModelDeployed',
  resourceWriteSuccess: 'Microsoft.Resources.ResourceWriteSuccess',
  resourceDeleteSuccess: 'Microsoft.Resources.ResourceDeleteSuccess',
} as const;
