import type { EndpointPage } from '../endpoints/EndpointRegistry';
import type { ArmCoordinates, AuthMode, EndpointKind } from '../endpoints/ManagedEndpoint';
import type { PageRequest } from '../listPages';
import type { DriftReport } from '../rotation/DriftDetector';

/**
 * The slice of the rotation module that event reactions use, declared structurally so the
 * composition root (`Services.events`) can pass the real `RotationModule` and tests an in-memory fake.
 */
export interface EventsRotationPorts {
  readonly registry: {
    /** The endpoint whose main secret is `secretName`. `abortSignal` ends the lookup (a delivery out of time). */
    findBySecretName(
      secretName: string,
      abortSignal?: AbortSignal,
    ): Promise<EventsManagedEndpoint | undefined>;
    /**
     * The endpoint registered for the Azure ML endpoint of `kind` at `arm` (ignoring case), whatever its id;
     * one in service before a retired one. `abortSignal` ends the lookup (a delivery out of time).
     */
    findByArm(
      kind: EndpointKind,
      arm: ArmCoordinates,
      abortSignal?: AbortSignal,
    ): Promise<EventsManagedEndpoint | undefined>;
    /**
     * One page of endpoints in id order (walked for the endpoints of a deleted workspace or group), naming
     * the rows in its range it skipped because they cannot be read. `abortSignal` ends the page's read.
     */
    listPage(request: PageRequest, abortSignal?: AbortSignal): Promise<EndpointPage<EventsManagedEndpoint>>;
  };
  readonly jobs: {
    /**
     * Enqueues one rotation job; duplicates are harmless (lease + journal). `abortSignal` gives the send up
     * (a delivery out of time), though one aborted after the queue took it leaves the job there.
     */
    enqueue(job: EventsRotationJob, options?: { abortSignal?: AbortSignal }): Promise<void>;
  };
  readonly drift: {
    /** Compares the current Key Vault value with the endpoint's keys. `abortSignal`: see `DriftDetector.check`. */
    check(endpointId: string, abortSignal?: AbortSignal): Promise<Pick<DriftReport, 'status'>>;
  };
  /**
   * The writes take no signal: one begun runs to its end, after the delivery's answer if need be, as each is
   * repeatable on redelivery (a registration found `alreadyRegistered`, a retirement found retired, a
   * reinstatement whose drift job could not be queued retired again). The reactions begin none once the
   * delivery's budget is spent.
   */
  readonly admin: {
    /** Registers a new endpoint (validates; conflicts when the id exists). */
    register(input: EndpointRegistrationInput): Promise<unknown>;
    /**
     * Marks an endpoint retired: never rotated again, its secret left in place. Not when it was
     * registered or reinstated after `deletedAt` (the time of the Azure delete, when known).
     */
    retire(endpointId: string, at: string, deletedAt?: string): Promise<unknown>;
    /** Takes a retired endpoint back: rotated again. */
    reinstate(endpointId: string): Promise<unknown>;
  };
  readonly secrets: {
    /** The current version of a secret, undefined when it does not exist. `abortSignal` ends the read. */
    getCurrent(name: string, abortSignal?: AbortSignal): Promise<EventsSecretVersion | undefined>;
  };
}

/** The fields of a managed endpoint the reactions read. */
export interface EventsManagedEndpoint {
  readonly id: string;
  /** ARM coordinates name a resource of this kind: an online endpoint and a v1 service may share them. */
  readonly kind: EndpointKind;
  /** Whether a retired endpoint is taken back depends on it (see `unknownHere` for one a newer version wrote). */
  readonly authMode: AuthMode;
  readonly arm: ArmCoordinates;
  readonly secretName: string;
  readonly enabled: boolean;
  readonly retiredAt?: string;
  /** When it was registered, and last reinstated: a delete from before then was of another resource. */
  readonly createdAt?: string;
  readonly reinstatedAt?: string;
}

/** The current secret version, without caring about its value. */
export interface EventsSecretVersion {
  readonly version: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** A rotation job (`RotationJob`, with the reasons events use). */
export interface EventsRotationJob {
  endpointId: string;
  reason: 'nearExpiry' | 'expired' | 'drift';
  urgent?: boolean;
  requestedAt: string;
}

/** What auto-registration passes to `admin.register`; unset fields take the rotation defaults. */
export interface EndpointRegistrationInput {
  id: string;
  kind: EndpointKind;
  arm: ArmCoordinates;
  authMode: AuthMode;
  secretName: string;
}
