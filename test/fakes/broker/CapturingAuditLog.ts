import type { AuditEntry, AuditLog } from '../../../shared/broker/AuditLog';

/** Keeps audit entries in memory. */
export class CapturingAuditLog implements AuditLog {
  readonly entries: AuditEntry[] = [];
  record(entry: AuditEntry): void {
    this.entries.push(entry);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  text(): string {
    return JSON.stringify(this.entries);
  }
}
