import { SECRET_TAGS } from '../../shared/rotation/SecretStore';
import { leakedSecrets } from '../support/standInLog';
import { allTableRowsText } from '../support/storageTables';
import { waitFor } from '../support/waitFor';
import { hostTails } from './crashAtStep';
import type { MatrixStack } from './matrixStack';
import { MIN_TOKEN_LIFETIME_MS, PERIOD_MS } from './matrixStack';
import { insideOutageWindow, type UpstreamFault } from './outageWindow';

/** One row of the fault matrix report. */
export interface CaseReport {
  readonly name: string;
  readonly durationMs: number;
  readonly probeCalls: number;
  /** Goal 0. */
  readonly probeRejected: number;
  readonly probeErrors: number;
  readonly brokerCalls: number;
  readonly broker5xxInWindow: number;
  /** Goal 0. */
  readonly broker5xxOutsideWindow: number;
  /** Connections refused or reset by a host that was being killed (not an HTTP answer). */
  readonly brokerConnectionErrors: number;
  /** Goal > 0: new main-secret versions written during the case (rotations and repairs). */
  readonly rotationsCompleted: number;
  /** Goal 0: a periodic endpoint rotated again before its period was over. */
  readonly doubleRotations: number;
  /** Goal 0: distinct keys, tokens or client secrets found in host output, stand-in logs or table rows. */
  readonly secretsInLogs: number;
  readonly hosts: number;
  readonly notes: string;
}

/** Runs the matrix's cases one after another and keeps their reports. */
export class CaseRunner {
  readonly reports: CaseReport[] = [];
  /** Upstream faults of the broker so far (the outage window is judged against all of them). */
  readonly faults: UpstreamFault[] = [];

  constructor(private readonly m: MatrixStack) {}

  /** Marks an upstream of the broker as failing from now; call the result when it recovers. */
  upstreamDown(what: string): () => void {
    const fault: UpstreamFault = { what, from: Date.now() };
    this.faults.push(fault);
    return () => void (fault.to ??= Date.now());
  }

  /**
   * Runs one case: `body` injects its faults and removes them before returning (with notes for the
   * report); then the case waits until a rotation completes after the faults cleared, and measures.
   */
  async run(name: string, body: () => Promise<string>): Promise<CaseReport> {
    const { m } = this;
    const started = Date.now();
    const probesBefore = this.probeTotals();
    const callsBefore = m.broker.calls.length;
    const versionsBefore = this.versionCount();
    let notes: string;
    try {
      notes = await body();
    } finally {
      m.stack.emulators.control.clearFaults();
      m.stack.emulators.control.setArmWriteThrottling(undefined);
      for (const f of this.faults) f.to ??= Date.now();
    }
    const cleared = this.versionCount();
    await waitFor('a rotation after the faults cleared', () => this.versionCount() > cleared, {
      timeoutMs: 120_000,
      intervalMs: 500,
      describe: () => hostTails(m),
    });
    const ended = Date.now();
    const probes = this.probeTotals();
    const calls = m.broker.calls.slice(callsBefore);
    const fivexx = calls.filter((c) => c.status !== undefined && c.status >= 500);
    const inWindow = fivexx.filter((c) => insideOutageWindow(c, this.faults, MIN_TOKEN_LIFETIME_MS));
    const report: CaseReport = {
      name,
      durationMs: ended - started,
      probeCalls: probes.accepted - probesBefore.accepted,
      probeRejected: probes.rejected - probesBefore.rejected,
      probeErrors: probes.errors - probesBefore.errors,
      brokerCalls: calls.length,
      broker5xxInWindow: inWindow.length,
      broker5xxOutsideWindow: fivexx.length - inWindow.length,
      brokerConnectionErrors: calls.filter((c) => c.status === undefined).length,
      rotationsCompleted: this.versionCount() - versionsBefore,
      doubleRotations: this.doubleRotations(started, ended),
      secretsInLogs: (await this.leaks()).length,
      hosts: m.live.length,
      notes,
    };
    this.reports.push(report);
    return report;
  }

  private probeTotals(): { accepted: number; rejected: number; errors: number } {
    const total = { accepted: 0, rejected: 0, errors: 0 };
    for (const p of this.m.probes.values()) {
      total.accepted += p.stats.accepted;
      total.rejected += p.stats.rejected;
      total.errors += p.stats.errors;
    }
    return total;
  }

  private rotating() {
    return [...this.m.periodic, this.m.crash, this.m.events];
  }

  private versionCount(): number {
    const { control } = this.m.stack.emulators;
    return this.rotating().reduce((n, e) => n + control.secretVersions(e.secretName).length, 0);
  }

  /** Periodic endpoints' rotations (after onboarding) that came less than a period after the one before. */
  private doubleRotations(from: number, to: number): number {
    let count = 0;
    for (const e of this.m.periodic) {
      const times = this.m.stack.emulators.control
        .secretVersions(e.secretName)
        .map((v) => Date.parse(v.tags[SECRET_TAGS.rotatedAt] ?? ''));
      for (let i = 2; i < times.length; i += 1) {
        const at = times[i] as number;
        if (at >= from && at <= to && at - (times[i - 1] as number) < PERIOD_MS - 1_000) count += 1;
      }
    }
    return count;
  }

  /** Labels of every secret found in any host's output, the stand-ins' log or any table row. */
  async leaks(): Promise<string[]> {
    const { m } = this;
    const { control } = m.stack.emulators;
    const secrets = new Map<string, string>();
    for (const e of this.rotating()) {
      for (const name of [e.secretName, `${e.secretName}-pending`])
        for (const v of control.secretVersions(name)) secrets.set(v.value, `${name}/${v.version}`);
      for (const [slot, key] of Object.entries(control.keys(e.coords))) secrets.set(key, `${e.id} ${slot}`);
    }
    let n = 0;
    for (const token of m.broker.tokens) secrets.set(token, `broker token #${(n += 1)}`);
    m.brokerSecrets.forEach((s, i) => secrets.set(s, `broker client secret #${i + 1}`));
    secrets.set(m.stack.masterKey, 'host master key');
    const haystack = [
      ...m.everHosts.map((h) => h.output()),
      m.standIns.lines.join('\n'),
      await allTableRowsText(m.stack.storageConnectionString),
    ].join('\n');
    return leakedSecrets(haystack, secrets);
  }
}
