import { ARM_SCOPE, type AzureClients } from './azureClients';
import { TimeLimitError, withinTimeLimitGivingUp } from './clock';
import type { AppConfig } from './config';

/** One dependency the app needs, checked cheaply. */
export interface HealthProbe {
  /** Dependency name shown in the report, e.g. `keyVault`. */
  readonly name: string;
  /**
   * Resolves when the dependency is usable; rejects with a reason otherwise.
   * @param abortSignal - fires when the check is given up (past its time limit): hand it to the call
   */
  check(abortSignal: AbortSignal): Promise<void>;
}

/**
 * The app's dependencies, each checked with the cheapest call that proves it usable: the journal table
 * and the rotation queue answer (each created if missing), Key Vault lists one page of secrets, and the
 * managed identity gets an ARM token. The Storage and Key Vault calls take the check's signal, so that a
 * check given up closes its request: left running, each health call on a silent dependency held a socket
 * for the transport's 30-s try limit (the queue client, with a transport of its own, for as long as the
 * silence lasted). The identity library does not stop a token request on a signal, so none is handed.
 */
export function dependencyProbes(
  clients: Pick<AzureClients, 'table' | 'queue' | 'secrets' | 'credential'>,
  config: Pick<AppConfig, 'tables' | 'rotation'>,
): HealthProbe[] {
  return [
    {
      name: 'tables',
      check: async (abortSignal) =>
        void (await clients.table(config.tables.journal).createTable({ abortSignal })),
    },
    {
      name: 'queue',
      check: async (abortSignal) =>
        void (await clients.queue(config.rotation.queue).createIfNotExists({ abortSignal })),
    },
    {
      name: 'keyVault',
      // Reading one page of secret properties proves reachability, identity and permission at once.
      check: async (abortSignal) =>
        void (await clients.secrets
          .listPropertiesOfSecrets({ abortSignal })
          .byPage({ maxPageSize: 1 })
          .next()),
    },
    {
      name: 'managedIdentity',
      check: async () => void (await clients.credential.getToken(ARM_SCOPE)),
    },
  ];
}

/** State of one dependency in a health report. */
export interface DependencyHealth {
  name: string;
  status: 'up' | 'down';
  latencyMs: number;
  /** Error class or code when down; never a secret or a full error message from the dependency. */
  reason?: string;
}

/** What `GET /api/health` answers. */
export interface HealthReport {
  status: 'up' | 'degraded';
  dependencies: DependencyHealth[];
}

/**
 * Checks every dependency in parallel, each bounded by a timeout so a hung dependency cannot hang the
 * health endpoint, and given up past it (its probe's signal fires, closing the probe's request). One
 * check runs at a time, and its report answers the callers that come within `reuseMs` of its end: the
 * endpoint is anonymous, and each check calls Key Vault, whose request limit is per vault, so a flood of
 * calls must not become one on the vault the rotation and the key's consumers read.
 * @example await new HealthCheck({ probes: [storageProbe, keyVaultProbe] }).run()
 */
export class HealthCheck {
  private readonly probes: readonly HealthProbe[];
  private readonly timeoutMs: number;
  private readonly reuseMs: number;
  /** The check running, or the last one with when it ended. */
  private latest?: { report: Promise<HealthReport>; endedAt?: number };

  /**
   * @param options.probes - dependencies to check
   * @param options.timeoutMs - per-probe limit
   * @param options.reuseMs - how long a finished check's report still answers
   * @default options.timeoutMs 3000
   * @default options.reuseMs 1000
   */
  constructor(options: { probes: readonly HealthProbe[]; timeoutMs?: number; reuseMs?: number }) {
    this.probes = options.probes;
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.reuseMs = options.reuseMs ?? 1000;
  }

  /** The running check's report, a report of the last `reuseMs`, or a new check's. */
  run(): Promise<HealthReport> {
    const latest = this.latest;
    if (latest && (latest.endedAt === undefined || Date.now() - latest.endedAt < this.reuseMs))
      return latest.report;
    const next: { report: Promise<HealthReport>; endedAt?: number } = { report: this.check() };
    void next.report.then(() => (next.endedAt = Date.now()));
    this.latest = next;
    return next.report;
  }

  /** Runs all probes and summarises them. */
  private async check(): Promise<HealthReport> {
    const dependencies = await Promise.all(this.probes.map((probe) => this.runProbe(probe)));
    return { status: dependencies.every((d) => d.status === 'up') ? 'up' : 'degraded', dependencies };
  }

  private async runProbe(probe: HealthProbe): Promise<DependencyHealth> {
    const started = Date.now();
    try {
      await withinTimeLimitGivingUp((abortSignal) => probe.check(abortSignal), this.timeoutMs);
      return { name: probe.name, status: 'up', latencyMs: Date.now() - started };
    } catch (error) {
      return { name: probe.name, status: 'down', latencyMs: Date.now() - started, reason: reasonOf(error) };
    }
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof TimeLimitError) return 'Timeout';
  if (error && typeof error === 'object') {
    const { code, statusCode, name } = error as { code?: unknown; statusCode?: unknown; name?: unknown };
    if (typeof code === 'string') return code;
    if (typeof statusCode === 'number') return `HTTP ${statusCode}`;
    if (typeof name === 'string' && name !== 'Error') return name;
  }
  return 'Unavailable';
}
