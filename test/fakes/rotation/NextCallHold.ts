/** What a test holds on to: `reached` resolves once the held call is waiting, `release` lets it go on. */
export interface HeldCall {
  readonly reached: Promise<void>;
  readonly release: () => void;
}

/** Holds the next call of a fake (a slow scoring URI, a long-running operation) until the test releases it. */
export class NextCallHold {
  private held: { arrive: () => void; released: Promise<void> } | undefined;

  /** The next call waits until `release` is called; later calls are not held. */
  hold(): HeldCall {
    let arrive = (): void => undefined;
    let release = (): void => undefined;
    const reached = new Promise<void>((resolve) => (arrive = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.held = { arrive, released };
    return { reached, release };
  }

  /** Called by the fake at the start of each call: waits if this is the held one. */
  async pass(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    if (!held) return;
    held.arrive();
    await held.released;
  }
}
