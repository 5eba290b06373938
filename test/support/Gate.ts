/** Holds callers until opened: a dependency that has stopped answering, for as long as a test likes. */
export class Gate {
  private passage: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;

  /** From now on, {@link pass} waits for {@link open}. */
  close(): void {
    this.passage = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  open(): void {
    this.release();
    this.passage = Promise.resolve();
  }

  /** Resolves at once while open, else when opened. */
  pass(): Promise<void> {
    return this.passage;
  }
}
