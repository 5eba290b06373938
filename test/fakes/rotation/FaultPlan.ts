/** Thrown by fakes to simulate a process that died mid-operation. */
export class CrashError extends Error {
  constructor() {
    super('simulated crash');
    this.name = 'CrashError';
  }
}

/**
 * Shared crash switch of the rotation fakes: `crashAfter(n)` lets n more mutating operations succeed,
 * then the process "dies" — that operation's effect is kept, and every later call on any fake throws
 * until `revive()` (a new process). Counting mutations only means crash points sit between durable effects.
 */
export class FaultPlan {
  private remaining: number | undefined;
  private dead = false;
  /** Mutations seen, e.g. `kv.set:demo-key-pending`, `arm.regenerate:Secondary`, `journal.write`. */
  readonly mutations: string[] = [];

  crashAfter(mutations: number | undefined): void {
    this.remaining = mutations;
  }

  revive(): void {
    this.dead = false;
    this.remaining = undefined;
  }

  get isDead(): boolean {
    return this.dead;
  }

  /** Called at the start of every fake call. */
  check(): void {
    if (this.dead) throw new CrashError();
  }

  /** Called after a fake applied a mutation. */
  mutated(name: string): void {
    this.mutations.push(name);
    if (this.remaining === undefined) return;
    this.remaining -= 1;
    if (this.remaining <= 0) {
      this.dead = true;
      throw new CrashError();
    }
  }
}
