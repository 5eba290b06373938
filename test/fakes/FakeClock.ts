import type { Clock, Repeat, Sleep } from '../../shared/clock';

interface Repeater {
  readonly everyMs: number;
  next: number;
  readonly tick: () => void;
}

/**
 * A clock tests move by hand: `advance` and `sleep` move it on (ticking every `repeat` that falls due),
 * `set` puts it anywhere, for tests that follow a real service's timestamps.
 */
export class FakeClock implements Clock {
  private readonly repeaters = new Set<Repeater>();

  constructor(private current = Date.parse('2026-01-01T00:00:00Z')) {}

  now(): number {
    return this.current;
  }

  /** Moves time on, ticking every repeater that falls due on the way (in time order per repeater). */
  advance(ms: number): void {
    this.current += ms;
    for (const repeater of [...this.repeaters])
      while (this.repeaters.has(repeater) && repeater.next <= this.current) {
        repeater.next += repeater.everyMs;
        repeater.tick();
      }
  }

  advanceHours(hours: number): void {
    this.advance(hours * 3_600_000);
  }

  set(ms: number): void {
    this.current = ms;
  }

  readonly sleep: Sleep = async (ms) => {
    this.advance(ms);
    await Promise.resolve();
  };

  readonly repeat: Repeat = (everyMs, tick) => {
    const repeater = { everyMs, next: this.current + everyMs, tick };
    this.repeaters.add(repeater);
    return () => this.repeaters.delete(repeater);
  };
}
