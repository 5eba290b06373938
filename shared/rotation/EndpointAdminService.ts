import { randomUUID } from 'node:crypto';

import { type Clock, isoNow } from '../clock';
import type { EndpointRegistry } from '../endpoints/EndpointRegistry';
import {
  armIdentity,
  type ManagedEndpoint,
  registeredAfter,
  secretIdentity,
  unknownHere,
} from '../endpoints/ManagedEndpoint';
import {
  type EndpointRules,
  isEndpointId,
  splitStoredFields,
  validateEndpoint,
} from '../endpoints/validateEndpoint';
import { ValidationError } from '../errors';
import { isObject } from '../isObject';
import { type ListedPage, listedPage, type PageRequest } from '../listPages';
import { retryWhileStale } from '../optimisticChange';
import { V1RuleError } from '../v1/v1Rules';
import type { EndpointKeyClient } from './EndpointKeyClient';
import { type EndpointStatus, endpointStatus, rotatedHere } from './endpointStatus';
import {
  AuthModeNotKeyError,
  EndpointAlreadyRegisteredError,
  EndpointChangedError,
  EndpointDeclaredInFileError,
  EndpointExistsError,
  EndpointNotFoundError,
  EndpointNotKnownHereError,
  EndpointRecordUnreadableError,
  requireKnownHere,
  RotationAlreadyQueuedError,
  RotationInGraceError,
  RotationInProgressError,
} from './errors';
import { HeldLease } from './HeldLease';
import type { RotationJob, RotationJobQueue } from './RotationJob';
import {
  abandonedStep,
  isRotationRunning,
  queuedJobWaits,
  type RotationJournal,
  type RotationState,
} from './RotationJournal';
import { waitingRotationJob } from './RotationScheduler';
import { SECRET_TAGS, type SecretStore, type SecretVersion } from './SecretStore';
import { targetSlotInGrace } from './slotHistory';

/** How long a registration holds the lease of its id while it clears a deleted endpoint's journal state. */
const REGISTER_LEASE_MS = 60_000;

/**
 * Reads the Azure ML endpoint a registration names before it is written (port; `AzureEndpointCheck` over
 * ARM). Throws the refusal to answer: not found, auth mode without keys or without the token registered,
 * permission missing, or ARM unavailable (503).
 */
export interface RegistrationCheck {
  verify(endpoint: ManagedEndpoint): Promise<void>;
}

/** Dependencies of {@link EndpointAdminService}. */
export interface EndpointAdminServiceOptions {
  registry: EndpointRegistry;
  journal: RotationJournal;
  secrets: SecretStore;
  jobs: RotationJobQueue;
  /** Checks a v1 web service's live auth flags before a manual rotation is accepted (omit to skip). */
  keys?: Pick<EndpointKeyClient, 'describe'>;
  /**
   * Reads the endpoint at Azure before a registration, or a `PATCH` that moves one, is written (omit to skip:
   * tests of the registry alone).
   */
  check?: RegistrationCheck;
  clock: Clock;
  rules: EndpointRules;
  /** Told the endpoint's id after each write, so this process stops using what it cached about it. */
  onChange?: (endpointId: string) => void;
}

/**
 * Registration and inspection of managed endpoints (the admin API's service). Validation names every
 * bad field at once; the grace period may not go below the configured minimum and the period must be
 * longer than the grace period.
 * @example await admin.register({ id: 'demo-key', arm: { subscriptionId, resourceGroup, workspace, name } })
 */
export class EndpointAdminService {
  constructor(private readonly options: EndpointAdminServiceOptions) {}

  /**
   * Validates and stores a new endpoint; unset fields take the rotation defaults. The endpoint is read at
   * Azure first (the `check`), after the refusals this app can answer alone and before anything is written:
   * a typo in its coordinates is a 422 now rather than a failed rotation later, and ARM down a 503.
   */
  async register(input: unknown): Promise<ManagedEndpoint> {
    const { registry, rules } = this.options;
    const endpoint = validateEndpoint(isObject(input) ? stripServerFields(input) : input, rules, this.now());
    await this.requireOwnSecret(endpoint);
    // A taken id is refused by create (ENDPOINT_EXISTS, or ENDPOINT_READ_ONLY for a file entry); one whose
    // row cannot be read is refused by this read (ENDPOINT_RECORD_UNREADABLE), before its journal is touched
    // and before its coordinates are checked: what such a POST answers is the id's own row.
    const stored = await registry.get(endpoint.id);
    await this.requireOwnEndpoint(endpoint);
    if (!stored) {
      await this.options.check?.verify(endpoint);
      await this.forgetDeletedRegistration(endpoint);
    }
    await registry.create(endpoint);
    this.options.onChange?.(endpoint.id);
    return endpoint;
  }

  /**
   * One page of endpoints in id order (the admin API's list), naming the rows in its range that cannot be
   * read with what a `GET` of each answers (409 `ENDPOINT_RECORD_UNREADABLE`): the registration exists,
   * and only a person can mend it, so the list says so rather than leave it to the logs.
   */
  async listPage(request: PageRequest): Promise<ListedPage<ManagedEndpoint>> {
    const { unreadable, ...page } = await this.options.registry.listPage(request);
    return listedPage(page, unreadable, ({ id, why }) => new EndpointRecordUnreadableError(id, why));
  }

  /**
   * Applies a partial update (the id cannot change) and re-validates the whole endpoint. The nested
   * objects `arm`, `probe` and `v1` change only the fields the patch names, as the top level does, so
   * `{ probe: { acceptedStatuses } }` keeps the probe's path and body. Stored fields this version does
   * not know (a newer version's) are kept as they are; the patch may not name them. An endpoint of a kind
   * or auth mode this version does not know (a newer version's) is not changed: its rules are not known here.
   */
  async update(id: string, patch: unknown): Promise<ManagedEndpoint> {
    return this.change(id, async (stored) => {
      if (!isObject(patch)) throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
      const changes = stripServerFields(patch);
      if (changes.id !== undefined && changes.id !== id)
        throw new ValidationError([{ field: 'id', message: 'cannot be changed' }]);
      const { known: existing, other } = splitStoredFields(stored);
      const merged = {
        ...existing,
        ...changes,
        arm: mergeNested(stored.arm, changes.arm),
        probe: mergeNested(stored.probe, changes.probe),
        ...(stored.v1 !== undefined || changes.v1 !== undefined
          ? { v1: mergeNested(stored.v1, changes.v1) }
          : {}),
      };
      const unknown = unknownHere(merged as unknown as ManagedEndpoint);
      if (unknown && changes[unknown] === undefined)
        throw new EndpointNotKnownHereError(id, unknown, String(stored[unknown]));
      const endpoint = validateEndpoint(merged, this.options.rules, this.now());
      await this.requireOwnSecret(endpoint, stored);
      // Only a move is checked: a registration that shares its place with another (both from before the
      // registry refused that) may still be disabled, retired or moved away.
      const moved = armIdentity(endpoint) !== armIdentity(stored);
      if (moved) await this.requireOwnEndpoint(endpoint);
      // Read at Azure as a registration is when it names another endpoint, or asks it for another credential
      // (keys, or the other token); a change of anything else (periods, probe, enabled) needs no ARM, and
      // works while ARM is down.
      if (moved || endpoint.authMode !== stored.authMode) await this.options.check?.verify(endpoint);
      return { ...other, ...endpoint };
    });
  }

  /**
   * Removes an endpoint from the registry; its secrets are left in Key Vault. One whose row cannot be read
   * (`ENDPOINT_RECORD_UNREADABLE`) is removed too: that is the way out the error names, and its journal
   * is left for a registration of the id to start over, as after any delete.
   */
  async remove(id: string): Promise<void> {
    await this.require(id).catch((error: unknown) => {
      if (!(error instanceof EndpointRecordUnreadableError)) throw error;
    });
    await this.options.registry.delete(id);
    this.options.onChange?.(id);
  }

  /**
   * Marks an endpoint retired (deleted in Azure): never rotated again, kept for history. Given when Azure
   * deleted it (`deletedAt`), an endpoint registered or reinstated since is left in service: that delete,
   * delivered late, was of the resource before it was re-created. Checked on the version written, so a
   * reinstatement that lands meanwhile is kept too.
   */
  async retire(id: string, at: string, deletedAt?: string): Promise<ManagedEndpoint> {
    return this.change(id, (existing) =>
      existing.retiredAt || (deletedAt !== undefined && registeredAfter(existing, deletedAt))
        ? undefined
        : { ...existing, retiredAt: at, updatedAt: this.now() },
    );
  }

  /** Takes a retired endpoint back (re-created in Azure under the same name): rotated again from now on. */
  async reinstate(id: string): Promise<ManagedEndpoint> {
    return this.change(id, ({ retiredAt, ...rest }) =>
      retiredAt === undefined ? undefined : { ...rest, reinstatedAt: this.now(), updatedAt: this.now() },
    );
  }

  /**
   * Slot in use, last rotation, next due time, last error with its step, drift, and what `POST …/rotate` would
   * be refused for (a job waiting, the grace period); never a key. Reads the registry, the journal row and Key
   * Vault (the current version, and its versions' properties for the grace period where the POST would ask it);
   * never ARM.
   */
  async status(id: string): Promise<EndpointStatus> {
    const endpoint = await this.require(id);
    const { state } = await this.options.journal.getState(id);
    const current =
      endpoint.authMode === 'Key' ? await this.options.secrets.getCurrent(endpoint.secretName) : undefined;
    const fileEntry = await this.options.registry.fileEntryClash(endpoint);
    const now = this.options.clock.now();
    // The POST asks the grace period of an endpoint it would rotate and no rotation it would resume: so does this.
    const grace =
      rotatedHere(endpoint, fileEntry) && state.active === undefined
        ? await this.targetGrace(endpoint, current, now)
        : undefined;
    return endpointStatus(endpoint, state, current, now, fileEntry, grace);
  }

  /**
   * Enqueues a manual rotation now; 409 `ROTATION_IN_PROGRESS` while one is running, 409
   * `ROTATION_ALREADY_QUEUED` (naming when) while one queued by an earlier request, the timer's or one the worker
   * put back waits for the worker, 409 `ROTATION_IN_GRACE` (naming when it ends) while the slot a new rotation
   * would regenerate is in its grace period, so the worker would skip the job, 422
   * for endpoints without keys, 409
   * `ENDPOINT_NOT_KNOWN_HERE` for one of a kind or auth mode this version does not know (a newer version's):
   * whether it has keys, and what must hold before they rotate, is not known here. 409
   * `ENDPOINT_DECLARED_IN_FILE` for a registration at an `ENDPOINTS_FILE` entry's Azure ML endpoint, or with
   * its Key Vault secret: the worker skips its jobs (the entry rotates those keys), so a 202 would promise what never happens. That is
   * asked before its own auth mode and state: the entry's are the ones that count, and it names the way out.
   * A rotation left in its test step (after `NEW_KEY_NOT_ACCEPTED`) is resumed with a whole test window from
   * the job's `requestedAt` (`KeyRotator`), not only the last try a redelivery gets.
   */
  async rotateNow(id: string): Promise<RotationJob> {
    const endpoint = await this.require(id);
    requireKnownHere(endpoint);
    const fileEntry = await this.options.registry.fileEntryClash(endpoint);
    if (fileEntry !== undefined) throw new EndpointDeclaredInFileError(id, fileEntry, endpoint.secretName);
    if (endpoint.authMode !== 'Key') throw new AuthModeNotKeyError(id, endpoint.authMode);
    if (endpoint.retiredAt || !endpoint.enabled)
      throw new ValidationError([
        { field: 'id', message: `endpoint ${id} is ${endpoint.retiredAt ? 'retired' : 'disabled'}` },
      ]);
    const { state, lease } = await this.options.journal.getState(id);
    if (isRotationRunning(lease)) throw new RotationInProgressError(id);
    if (endpoint.kind === 'v1WebService') await this.checkV1Rules(endpoint);
    this.requireNoJobWaiting(endpoint, state);
    // A rotation left unfinished is resumed by the job (its slot was checked when it was planned), and an
    // operator's job may reopen its test window or drop one refused as unsafe: no grace check for it.
    if (state.active === undefined) await this.requireOutOfGrace(endpoint);
    const job: RotationJob & { requestId: string } = {
      endpointId: id,
      reason: 'manual',
      requestedAt: this.now(),
      requestId: randomUUID(),
    };
    await this.queueOnce(job);
    return job;
  }

  /**
   * Refuses a second job while one for the endpoint still waits on the queue: 409 `ROTATION_ALREADY_QUEUED`,
   * naming when it was queued. The journal row read here answers first for the note of an earlier request (so
   * its answer names that request, also while a copy the worker put back carries the timer's mark); the
   * conditional write of `queueOnce` decides the race of two. For the timer's mark (`enqueuedAt`), the one
   * answer: a job of the timer's or the worker's waits, which rotates a due endpoint or resumes its rotation,
   * and a second would be skipped in grace after it, or rotate again with a grace period of 0. Its wait is
   * bounded as the timer's, so a lost message holds the endpoint off an hour (or its period) at most.
   */
  private requireNoJobWaiting(endpoint: ManagedEndpoint, state: RotationState): void {
    const waiting = waitingRotationJob(endpoint, state, this.options.clock.now());
    if (waiting !== undefined)
      throw new RotationAlreadyQueuedError(endpoint.id, waiting.queuedAt, waiting.queuedBy);
  }

  /**
   * 409 `ROTATION_IN_GRACE`, naming when the grace period ends, while the slot a new rotation would regenerate
   * stopped being current less than the grace period ago: the worker would skip the job (`inGrace`) by the
   * same rule (`slotInGrace`), read here from Key Vault's versions (`targetSlotInGrace`). There is no switch
   * past it: regenerating that slot now breaks the clients that still hold its key, which is what the grace
   * period is for. For a leaked key, operations.md says what to do by hand. A version the planner would
   * establish by value differently (a slot tag copied by hand) is left to the worker, which decides again.
   */
  private async requireOutOfGrace(endpoint: ManagedEndpoint): Promise<void> {
    const { secrets, clock } = this.options;
    const current = await secrets.getCurrent(endpoint.secretName);
    const grace = await this.targetGrace(endpoint, current, clock.now());
    if (grace)
      throw new RotationInGraceError(
        endpoint.id,
        endpoint.gracePeriodHours,
        new Date(grace.endsAt).toISOString(),
        grace.slot,
      );
  }

  /**
   * The grace period the slot a new rotation would regenerate is in, from Key Vault's versions
   * (`targetSlotInGrace`): what `POST …/rotate` refuses with `ROTATION_IN_GRACE`, and the status shows as
   * `graceEndsAt`. None before onboarding (no current version): the job onboards the endpoint.
   * @param current - Key Vault's current version, as the caller read it
   * @param now - epoch ms
   */
  private async targetGrace(
    endpoint: ManagedEndpoint,
    current: SecretVersion | undefined,
    now: number,
  ): Promise<ReturnType<typeof targetSlotInGrace>> {
    if (!current) return undefined;
    const versions = await this.options.secrets.listVersions(endpoint.secretName);
    return targetSlotInGrace(current, versions, endpoint.gracePeriodHours, now);
  }

  /**
   * Enqueues the manual job unless one queued by an earlier request still waits: the journal's note
   * (`queuedManual`) is written first, conditionally, so of two requests that race only one queues. A failed
   * enqueue takes its note back (best effort: else it lapses), so that a retry is not refused.
   */
  private async queueOnce(job: RotationJob & { requestId: string }): Promise<void> {
    const { journal, jobs, clock } = this.options;
    const { endpointId, requestId, requestedAt: queuedAt } = job;
    const waiting = await journal.markManualRotation(endpointId, { requestId, queuedAt }, (at) =>
      queuedJobWaits(at, clock.now()),
    );
    if (waiting !== undefined) throw new RotationAlreadyQueuedError(endpointId, waiting);
    try {
      await jobs.enqueue(job);
    } catch (error) {
      await journal.clearManualRotation(endpointId, requestId).catch(() => undefined);
      throw error;
    }
  }

  /**
   * A v1 service with key auth off (or on together with token auth) gets a 422 naming the v1 rule now,
   * rather than a failed job later. Any other failure to read the service queues the job all the same:
   * the rotator checks again before it touches anything, and records what went wrong where every
   * failure is shown (status, `RotationFailed`). The region down retries there; a definite no (404
   * service gone, 403 role missing) would otherwise be a 502 saying "try again later", naming nothing.
   */
  private async checkV1Rules(endpoint: ManagedEndpoint): Promise<void> {
    try {
      await this.options.keys?.describe(endpoint);
    } catch (error) {
      if (error instanceof V1RuleError) throw error;
    }
  }

  private async require(id: string): Promise<ManagedEndpoint> {
    const endpoint = isEndpointId(id) ? await this.options.registry.get(id) : undefined;
    if (!endpoint) throw new EndpointNotFoundError(id);
    return endpoint;
  }

  /**
   * Reads the endpoint, applies `edit` (undefined: nothing to write) and replaces it if nobody wrote in
   * between; otherwise reads again, so an admin update and an Event Grid retirement that overlap both
   * take effect instead of the later one undoing the earlier.
   */
  private async change(
    id: string,
    edit: (existing: ManagedEndpoint) => ManagedEndpoint | undefined | Promise<ManagedEndpoint | undefined>,
  ): Promise<ManagedEndpoint> {
    const { registry } = this.options;
    return retryWhileStale(
      (error) => error instanceof EndpointChangedError,
      async () => {
        const current = isEndpointId(id) ? await registry.getVersioned(id) : undefined;
        if (!current) throw new EndpointNotFoundError(id);
        const next = await edit(current.endpoint);
        if (!next) return current.endpoint;
        await registry.replace(next, current.version);
        this.options.onChange?.(id);
        return next;
      },
    );
  }

  /**
   * The rotation journal is kept per endpoint id and outlives a `DELETE`, so an id registered again
   * inherited the deleted endpoint's rotation: a rotation left in progress was resumed against the new
   * endpoint (refused as unsafe, or a slot regenerated without the plan's checks by value), and the last
   * rotation's time kept the new one from being onboarded until the deleted one's next due time. So a
   * registration starts without that state; only when Key Vault's current version of its secret was
   * written by the journal's last rotation (the same endpoint registered again, as events.md suggests
   * after a wrong retirement) does that rotation stay its last one, so its schedule is kept.
   */
  private async forgetDeletedRegistration(endpoint: ManagedEndpoint): Promise<void> {
    const { journal, secrets } = this.options;
    const { state, lease: holder } = await journal.getState(endpoint.id);
    if (Object.keys(state).length === 0) return;
    if (holder) throw new RotationInProgressError(endpoint.id);
    const held = await HeldLease.acquire(journal, endpoint.id, `register-${randomUUID()}`, REGISTER_LEASE_MS);
    if (!held) throw new RotationInProgressError(endpoint.id);
    await held.releaseAfter(async () => {
      const current = await secrets.getCurrent(endpoint.secretName);
      const { active, lastRotatedAt: at, lastRotationId, lastSlot } = state;
      const sameSecret =
        lastRotationId !== undefined && current?.tags[SECRET_TAGS.rotationId] === lastRotationId;
      await held.write({
        state: sameSecret ? { lastRotatedAt: at, lastRotationId, lastSlot } : {},
        ...(active
          ? {
              step: abandonedStep(
                active,
                this.now(),
                `endpoint deleted after ${active.step} and registered again`,
              ),
            }
          : {}),
      });
    });
  }

  /**
   * One registration per Azure ML endpoint (kind and ARM coordinates): two would each regenerate the key
   * they think inactive, which may be the one the other just stored in Key Vault. Asked before the write for
   * the endpoints the registry's claims cannot see (`ENDPOINTS_FILE` entries, rows from before the claims);
   * the write itself refuses a registration that races this one.
   */
  private async requireOwnEndpoint(endpoint: ManagedEndpoint): Promise<void> {
    const owner = await this.options.registry.findByArm(endpoint.kind, endpoint.arm);
    if (owner && owner.id !== endpoint.id)
      throw new EndpointAlreadyRegisteredError(endpoint.kind, endpoint.arm, owner.id);
  }

  /**
   * One Key Vault secret belongs to one endpoint: two would overwrite each other's keys. Asked of every write,
   * not only of a rename, for the owners the registry's claims cannot see: `ENDPOINTS_FILE` entries, and rows
   * from before the claims (a `PATCH` of one sharing its secret with another such row would otherwise give it
   * the claim, and Key Vault's events of the secret, from the row a walk of the registry found first). One
   * exception: a `PATCH` (`stored`: the endpoint as read) that keeps a secret an entry declares. Such a row was
   * registered before the file declared the secret; the entry has it already (lookups answer the entry, and
   * rotation and the broker's key leave the row alone), so keeping it shares nothing new, and refusing left
   * the operator no way to disable or retire the row but `DELETE`.
   */
  private async requireOwnSecret(endpoint: ManagedEndpoint, stored?: ManagedEndpoint): Promise<void> {
    const { registry } = this.options;
    const owner = await registry.findBySecretName(endpoint.secretName);
    if (!owner || owner.id === endpoint.id) return;
    if (!(await registry.declaredInFile(owner.id)))
      throw EndpointExistsError.secretTaken(endpoint.secretName, owner.id);
    const kept = stored && secretIdentity(stored.secretName) === secretIdentity(endpoint.secretName);
    if (!kept) throw EndpointExistsError.secretDeclaredInFile(endpoint.secretName, owner.id);
  }

  private now(): string {
    return isoNow(this.options.clock);
  }
}

/** Server-owned fields are ignored on input rather than trusted. */
function stripServerFields(input: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...input };
  for (const field of ['createdAt', 'updatedAt', 'retiredAt', 'reinstatedAt']) delete rest[field];
  return rest;
}

/**
 * A nested object of a PATCH over the stored one, field by field. Anything else that is given (a
 * string, null, a list) replaces it, so that validation refuses it rather than the patch ignoring it.
 */
function mergeNested(stored: object | undefined, change: unknown): unknown {
  if (change === undefined) return stored;
  return isObject(change) ? { ...stored, ...change } : change;
}
