/**
 * Errors of the rotation domain, each with a stable `code`. Messages name endpoints, slots, steps and
 * secret names only — never a key value — because they end up in journal rows and problem bodies.
 */

import { hasKeyAuth, servesAuthMode } from '../endpoints/armAuthMode';
import type { FileEntryClash } from '../endpoints/EndpointRegistry';
import {
  type ArmCoordinates,
  type AuthMode,
  type EndpointKind,
  type KeySlot,
  type ManagedEndpoint,
  unknownHere,
} from '../endpoints/ManagedEndpoint';
import {
  AppError,
  ConflictError,
  DependencyFailedError,
  DependencyUnavailableError,
  type FieldIssue,
  NotFoundError,
} from '../errors';
import { statusOf } from '../networkErrors';

/**
 * No endpoint with that id is registered. The message shows at most 64 characters of the id (every
 * valid id fits): it is answered to whoever sent the id, which may be any length.
 */
export class EndpointNotFoundError extends NotFoundError {
  override readonly code: string = 'ENDPOINT_NOT_FOUND';
  constructor(readonly endpointId: string) {
    super(`Endpoint ${endpointId.slice(0, 64)} is not registered.`);
  }
}

/** Another run holds the endpoint's lease (one rotation per endpoint at a time). */
export class RotationInProgressError extends ConflictError {
  override readonly code: string = 'ROTATION_IN_PROGRESS';
  override readonly temporary = true;
  constructor(readonly endpointId: string) {
    super(`A rotation of endpoint ${endpointId} is in progress.`);
  }
}

/**
 * A job for the endpoint waits on the queue that no run has taken up yet: one an operator's `POST …/rotate`
 * queued (`queuedBy` `operator`), or the timer's, or one the worker put back (`timer`: the journal's
 * `enqueuedAt`). A second one (a retried POST) would be a second rotation when the grace period is 0, and
 * otherwise a job skipped in the grace period with nothing to show for its 202; the operator learns instead
 * when the waiting one was queued. Temporary: the worker takes the job up within seconds, or the mark lapses
 * (`QUEUED_JOB_WAIT_MS`).
 */
export class RotationAlreadyQueuedError extends ConflictError {
  override readonly code: string = 'ROTATION_ALREADY_QUEUED';
  override readonly temporary = true;
  constructor(
    readonly endpointId: string,
    readonly queuedAt: string,
    readonly queuedBy: 'operator' | 'timer' = 'operator',
  ) {
    super(
      queuedBy === 'operator'
        ? `A manual rotation of endpoint ${endpointId} was queued at ${queuedAt} and has not run yet; its outcome ` +
            `shows in the endpoint's status.`
        : `A rotation job for endpoint ${endpointId} was queued at ${queuedAt} (by the rotation timer, or put back ` +
            `on the queue by the worker) and has not run yet; its outcome shows in the endpoint's status.`,
    );
  }
}

/**
 * An operator's `POST …/rotate` while the slot a rotation would regenerate stopped being current less than the
 * grace period ago (`slotInGrace`, the planner's rule): clients, such as Key Vault references that re-read only
 * every 24 h, may still hold its key, so the worker would skip the job (`inGrace`) and the 202 would promise
 * nothing. `slot` is the one the rotation would regenerate, absent when Key Vault's current version carries no
 * slot tag (written by hand): then both slots are in grace, and `graceEndsAt` is the later end. Temporary: the
 * grace period ends at `graceEndsAt`.
 */
export class RotationInGraceError extends ConflictError {
  override readonly code: string = 'ROTATION_IN_GRACE';
  override readonly temporary = true;
  constructor(
    readonly endpointId: string,
    gracePeriodHours: number,
    readonly graceEndsAt: string,
    readonly slot?: KeySlot,
  ) {
    super(
      `Endpoint ${endpointId} rotated less than its grace period (${gracePeriodHours} h) ago: a rotation now ` +
        `would regenerate ${slot ?? 'a key'}, which clients may still hold. Its grace period ends at ` +
        `${graceEndsAt}; POST again then.`,
    );
  }
}

/**
 * A drift check holds the endpoint's lease for a moment (`DriftDetector`). A job that meets it is tried
 * again by the queue rather than dropped: nothing would enqueue an operator's "rotate now" again.
 */
export class EndpointBusyError extends DependencyUnavailableError {
  override readonly code: string = 'ENDPOINT_BUSY';
  constructor(readonly endpointId: string) {
    super('journal', `A drift check of endpoint ${endpointId} holds its lease for a moment; try again.`);
  }
}

/** This run lost its lease (it expired and another run took over); it stops without touching anything. */
export class LeaseLostError extends ConflictError {
  override readonly code: string = 'ROTATION_LEASE_LOST';
  override readonly temporary = true;
  constructor(readonly endpointId: string) {
    super(`The rotation lease of endpoint ${endpointId} was lost to another run.`);
  }
}

/** An endpoint with that id exists, or its Key Vault secret belongs to another endpoint. */
export class EndpointExistsError extends ConflictError {
  override readonly code: string = 'ENDPOINT_EXISTS';

  static idTaken(id: string): EndpointExistsError {
    return new EndpointExistsError(`Endpoint ${id} is already registered.`);
  }

  static secretTaken(secretName: string, ownerId: string): EndpointExistsError {
    return new EndpointExistsError(`Secret ${secretName} already belongs to endpoint ${ownerId}.`);
  }

  /**
   * The secret's owner is an `ENDPOINTS_FILE` entry: said so, as the entry cannot be changed or deleted through
   * the API, and with the way out (as `ENDPOINT_DECLARED_IN_FILE` names it for a registration at an entry's endpoint).
   */
  static secretDeclaredInFile(secretName: string, entryId: string): EndpointExistsError {
    return new EndpointExistsError(
      `Secret ${secretName} already belongs to endpoint ${entryId}, which ENDPOINTS_FILE declares: it rotates the ` +
        `keys of its own Azure ML endpoint into that secret. Name a Key Vault secret of its own in secretName ` +
        `(the entry changes only with ENDPOINTS_FILE).`,
    );
  }
}

/**
 * The Azure ML endpoint (its kind and ARM coordinates, compared ignoring case as ARM does) is registered
 * already, under another id: two registrations would each regenerate the key they think inactive, which
 * may be the one the other just stored in Key Vault, and break the other's clients. The message names the
 * registration that has it (retired ones included: a write of the endpoint in Azure reinstates those).
 */
export class EndpointAlreadyRegisteredError extends ConflictError {
  override readonly code: string = 'ENDPOINT_ALREADY_REGISTERED';
  constructor(
    readonly kind: string,
    readonly arm: ArmCoordinates,
    readonly existingId: string,
  ) {
    super(
      `The ${kind} ${arm.name} of workspace ${arm.workspace} (resource group ${arm.resourceGroup}, ` +
        `subscription ${arm.subscriptionId}) is already registered as endpoint ${existingId}.`,
    );
  }
}

/** The endpoint changed between the read and the write of an admin change (retried before it surfaces). */
export class EndpointChangedError extends ConflictError {
  override readonly code: string = 'ENDPOINT_CHANGED';
  override readonly temporary = true;
  constructor(readonly endpointId: string) {
    super(`Endpoint ${endpointId} changed meanwhile; read it again and retry.`);
  }
}

/**
 * The endpoint's row in the registry table cannot be read: its `endpoint` column is not JSON, or not of an
 * endpoint's shape (a hand edit in Storage Explorer, say). Not "not found": the id is taken, and treating
 * it as free let a registration of the id start its rotation journal over, a rotation in progress
 * abandoned, before the create was refused. Not temporary either: it stays so until a person acts, and
 * `DELETE` still removes the row. The message names the id and what is wrong, never the row's content
 * (a hand edit may have pasted anything there); the id shows at most 64 characters, as in
 * {@link EndpointNotFoundError}.
 */
export class EndpointRecordUnreadableError extends ConflictError {
  override readonly code: string = 'ENDPOINT_RECORD_UNREADABLE';
  constructor(
    readonly endpointId: string,
    readonly why: string,
  ) {
    super(
      `Endpoint ${endpointId.slice(0, 64)} is stored in a form this app cannot read: ${why}. ` +
        `DELETE it and register it again, or correct its row (row key ${endpointId.slice(0, 64)}) in the endpoint registry table.`,
    );
  }
}

/** The endpoint is declared in ENDPOINTS_FILE and cannot be changed through the API. */
export class EndpointReadOnlyError extends ConflictError {
  override readonly code: string = 'ENDPOINT_READ_ONLY';
  constructor(readonly endpointId: string) {
    super(`Endpoint ${endpointId} is declared in ENDPOINTS_FILE; change it there.`);
  }
}

/**
 * A manual rotation of a table row that collides with an `ENDPOINTS_FILE` entry under another id: a row
 * registered before the file declared its Azure ML endpoint (kind and coordinates, ignoring case), or its Key
 * Vault secret for another endpoint. The entry rotates those keys, or its own endpoint's into that secret, and
 * the worker skips this row's jobs (`declaredInFile`), so accepting the request (202) would promise a rotation
 * that never happens. Not temporary: it stays so until the row is deleted, or given a secret of its own.
 */
export class EndpointDeclaredInFileError extends ConflictError {
  override readonly code: string = 'ENDPOINT_DECLARED_IN_FILE';
  readonly entryId: string;
  constructor(
    readonly endpointId: string,
    clash: FileEntryClash,
    secretName: string,
  ) {
    super(
      clash.shares === 'endpoint'
        ? `Endpoint ${endpointId} is not rotated: ENDPOINTS_FILE declares its Azure ML endpoint as ${clash.entry}, ` +
            `which rotates its keys. Rotate ${clash.entry} instead; point the clients of ${endpointId} at the ` +
            `secret of ${clash.entry} and DELETE ${endpointId}.`
        : `Endpoint ${endpointId} is not rotated: ENDPOINTS_FILE declares its Key Vault secret ${secretName} for ` +
            `${clash.entry}, which rotates the keys of its own Azure ML endpoint into it. PATCH the secretName of ` +
            `${endpointId} to a secret of its own and point its clients at that, or DELETE ${endpointId}.`,
    );
    this.entryId = clash.entry;
  }
}

/**
 * The stored endpoint has a kind or auth mode this version does not know: a newer version, deployed beside
 * this one (a rolling deployment), registered it. This version cannot validate a change to it, nor judge
 * its keys, so it changes and judges nothing, rather than answer 400 naming a field the caller never sent
 * or a verdict of its own. Temporary: an instance of the newer version can, so a caller that can try again
 * by itself (the Event Grid webhook: 503) does.
 */
export class EndpointNotKnownHereError extends ConflictError {
  override readonly code: string = 'ENDPOINT_NOT_KNOWN_HERE';
  override readonly temporary = true;
  constructor(
    readonly endpointId: string,
    field: 'kind' | 'authMode',
    value: string,
  ) {
    super(
      `Endpoint ${endpointId} has ${field} ${value.slice(0, 64)}, which this version of the app does not know ` +
        `(a newer version registered it); during a deployment, try again once it is complete.`,
    );
  }
}

/** Throws {@link EndpointNotKnownHereError} when a newer version registered the endpoint with a kind or auth mode this one does not know. */
export function requireKnownHere(endpoint: Pick<ManagedEndpoint, 'id' | 'kind' | 'authMode'>): void {
  const unknown = unknownHere(endpoint);
  if (unknown) throw new EndpointNotKnownHereError(endpoint.id, unknown, String(endpoint[unknown]));
}

/** Keys can only be rotated for endpoints whose auth mode is `Key`. */
export class AuthModeNotKeyError extends AppError {
  readonly code = 'AUTH_MODE_NOT_KEY';
  readonly status = 422;
  constructor(
    readonly endpointId: string,
    readonly authMode: string,
  ) {
    super(
      `Endpoint ${endpointId} uses auth mode ${authMode}; only Key endpoints have keys to rotate ` +
        `(AMLToken/AADToken endpoints are served by the token broker instead).`,
    );
  }
}

/**
 * What the rotator and a registration both ask of ARM's auth mode for a `Key` endpoint: exactly `Key`
 * (`hasKeyAuth`: a token endpoint has no keys to rotate, and serverless `KeyAndAAD` is not rotated).
 */
export function requireKeyAuthAt(endpointId: string, armAuthMode: string): void {
  if (!hasKeyAuth(armAuthMode)) throw new AuthModeNotKeyError(endpointId, armAuthMode);
}

/**
 * A token registration (`AMLToken`, `AADToken`) names an endpoint whose auth mode at ARM does not take that
 * token (`servesAuthMode`): the broker would hand clients a credential the endpoint refuses (ARM's `/token`
 * answers 400 for an endpoint without `AMLToken`; a scoring URI answers 401 to a token of the other kind).
 * Refused before anything is written; `issues` (shown as `errors`) names `authMode`. A `Key` registration
 * is refused with {@link AuthModeNotKeyError} instead, the rotator's own answer.
 */
export class AuthModeMismatchError extends AppError {
  readonly code = 'AUTH_MODE_MISMATCH';
  readonly status = 422;
  override readonly issues: FieldIssue[];
  /** ARM's auth mode as it answered (at most 64 characters). */
  readonly armAuthMode: string;
  constructor(
    readonly endpointId: string,
    readonly kind: EndpointKind,
    readonly authMode: AuthMode,
    armAuthMode: string,
  ) {
    const atArm = armAuthMode.slice(0, 64);
    const token = authMode === 'AMLToken' ? 'an Azure ML token' : 'a Microsoft Entra ID token';
    const fix =
      kind === 'serverlessEndpoint'
        ? 'A serverless endpoint issues no Azure ML tokens and takes Entra ID tokens (AADToken) only with AAD or KeyAndAAD'
        : 'Register it with the auth mode ARM shows, or change the endpoint in Azure first';
    super(
      `Endpoint ${endpointId} asks for authMode ${authMode}, but ARM shows the ${kind} with auth mode ${atArm}, ` +
        `which does not take ${token}: clients would be handed a credential the endpoint refuses. ${fix} ` +
        `(nothing was registered).`,
    );
    this.armAuthMode = atArm;
    this.issues = [{ field: 'authMode', message: `ARM shows auth mode ${atArm}` }];
  }
}

/**
 * What a registration asks of ARM's auth mode: a `Key` one {@link requireKeyAuthAt}, a token one that it takes
 * the token the broker hands out ({@link AuthModeMismatchError} otherwise).
 */
export function requireAuthModeAt(
  endpoint: Pick<ManagedEndpoint, 'id' | 'kind' | 'authMode'>,
  armAuthMode: string,
): void {
  if (endpoint.authMode === 'Key') return requireKeyAuthAt(endpoint.id, armAuthMode);
  if (!servesAuthMode(endpoint, armAuthMode))
    throw new AuthModeMismatchError(endpoint.id, endpoint.kind, endpoint.authMode, armAuthMode);
}

/**
 * A registration (or a `PATCH` that moves one) names an Azure ML endpoint ARM does not have: ARM answered 404
 * at its resource id, or shows it being deleted. Refused before anything is written, so a typo in `arm` or
 * `kind` is not found only at the first rotation (`DependencyFailed … 404`). `issues` (shown as `errors`)
 * names the fields ARM's answer points at: its error code tells a missing resource group or subscription
 * apart; any other 404 leaves the workspace or the name (or the kind, which picks the resource type).
 */
export class AzureEndpointNotFoundError extends AppError {
  readonly code = 'AZURE_ENDPOINT_NOT_FOUND';
  readonly status = 422;
  override readonly issues: FieldIssue[];
  constructor(
    readonly armId: string,
    fields: readonly string[],
    why: string,
  ) {
    super(
      `No Azure ML endpoint was found at ${armId} (${why}); check ${fields.join(' and ')}, and kind. ` +
        `Register an endpoint once it is deployed (nothing was registered).`,
    );
    this.issues = fields.map((field) => ({ field, message: `ARM has no endpoint at ${armId} (${why})` }));
  }
}

/**
 * ARM refused the app's identity a read of the endpoint a registration names (403), so whether it exists
 * cannot be told; rotation and the broker would be refused the same way. The message names the RBAC action
 * to grant (from `shared/permissions.ts`). 422, not 403: the admin caller was not refused, the app was.
 */
export class AzureEndpointReadForbiddenError extends AppError {
  readonly code = 'AZURE_ENDPOINT_READ_FORBIDDEN';
  readonly status = 422;
  constructor(
    readonly armId: string,
    readonly action: string,
  ) {
    super(
      `ARM refused the app's managed identity a read of ${armId} (403): grant it ${action} ` +
        `(the custom role infra/ml-custom-role.json has it) at that endpoint, its workspace or resource group. ` +
        `ARM also answers 403 for a subscription the identity cannot see: check arm.subscriptionId. Nothing was registered.`,
    );
  }
}

/** The endpoint kind has no key client in this deployment. */
export class UnsupportedEndpointKindError extends AppError {
  readonly code = 'ENDPOINT_KIND_UNSUPPORTED';
  readonly status = 422;
  constructor(readonly kind: string) {
    super(`Endpoints of kind ${kind} cannot be rotated yet.`);
  }
}

/** Key Vault matches neither key of the endpoint and no safe repair exists; a human must decide. */
export class DriftDetectedError extends AppError {
  readonly code = 'DRIFT_DETECTED';
  readonly status = 409;
  constructor(
    readonly endpointId: string,
    readonly secretName: string,
  ) {
    super(
      `The current version of secret ${secretName} matches neither key of endpoint ${endpointId}; ` +
        `rotation refused until the drift is resolved.`,
    );
  }
}

/** Regenerating this slot would break the invariants (slot in Key Vault, or still within grace). */
export class UnsafeRegenerationError extends AppError {
  readonly code = 'UNSAFE_REGENERATION';
  readonly status = 409;
}

/** Code of {@link UnsafeRegenerationError}, which a later run reads back from the journal (typed to match it). */
export const UNSAFE_REGENERATION: UnsafeRegenerationError['code'] = 'UNSAFE_REGENERATION';

/**
 * Key Vault refused to write a secret whose name belongs to a deleted one (409, `ObjectIsDeletedButRecoverable`):
 * soft delete keeps the name until a person recovers or purges the secret, so no retry can succeed.
 */
export class SecretDeletedError extends DependencyFailedError {
  override readonly code: string = 'SECRET_DELETED';
  constructor(secretName: string, options?: ErrorOptions) {
    super(
      'keyVault',
      `Key Vault secret ${secretName} is deleted but recoverable; recover it (az keyvault secret recover), or PATCH the endpoint to another secretName; then rotate again.`,
      409,
      options,
    );
  }
}

/** The scoring URI kept rejecting the new key until the test deadline. Key Vault was not touched. */
export class KeyNotAcceptedError extends DependencyFailedError {
  override readonly code: string = 'NEW_KEY_NOT_ACCEPTED';
  constructor(
    readonly endpointId: string,
    readonly lastStatus: number | undefined,
  ) {
    super(
      'scoring',
      `The scoring URI of endpoint ${endpointId} did not accept the new key before the test deadline ` +
        `(last status ${lastStatus ?? 'none'}); Key Vault still holds the previous key.`,
      lastStatus,
    );
  }
}

/** ARM answered 400 to our chosen key value; the caller regenerates without a value instead. */
export class KeyValueRejectedError extends DependencyFailedError {
  override readonly code: string = 'KEY_VALUE_REJECTED';
  constructor(options?: ErrorOptions) {
    super('arm', 'The endpoint rejected the proposed key value.', 400, options);
  }
}

/** Reads the stable code of any error, for journal rows and telemetry. */
export function errorCode(error: unknown): string {
  if (error instanceof AppError) return error.code;
  return error instanceof Error ? error.name : 'Unknown';
}

/** A message safe to journal and show: our own errors' messages, otherwise only the error's name and status. */
export function safeMessage(error: unknown): string {
  if (error instanceof AppError) return error.message;
  const status = statusOf(error);
  const name = error instanceof Error ? error.name : 'Error';
  return status !== undefined ? `${name} (HTTP ${status})` : name;
}

/**
 * ARM kept its write bucket closed for longer than a write may wait at the `ArmWriteGate`. Not a
 * failure of the rotation: the job is re-enqueued with a delay (`retryAfterSeconds`) instead of being
 * retried by the queue, so throttling never turns a job into a poison message.
 */
export class ArmThrottledError extends DependencyUnavailableError {
  override readonly code: string = 'ARM_THROTTLED';
  constructor(retryAfterSeconds: number, options?: ErrorOptions) {
    super('arm', 'ARM is throttling writes (429); the write was not sent.', {
      ...options,
      retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)),
    });
  }
}

/**
 * A run spent its time budget (`RunBudget`: the host's `functionTimeout` less a margin) in `step` and
 * stopped there rather than be killed by the host. Nothing failed: the journal keeps the step reached
 * and the queue's next delivery resumes at it, like any `DependencyUnavailableError`.
 */
export class RotationOutOfTimeError extends DependencyUnavailableError {
  override readonly code: string = 'ROTATION_OUT_OF_TIME';
  constructor(
    readonly endpointId: string,
    readonly step: string,
    budgetMs: number,
    options?: ErrorOptions,
  ) {
    super(
      'rotation',
      `The run of endpoint ${endpointId} stopped in step ${step}: it used up its ${budgetMs / 1000} s, ` +
        `the host's functionTimeout less a margin to stop in; the next delivery resumes at ${step}.`,
      options,
    );
  }
}
