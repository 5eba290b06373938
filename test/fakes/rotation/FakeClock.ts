import type { Clock, Sleep } from '../../../shared/clock';

/** A clock tests move by hand; `sleep` advances it instead of waiting. */
export class FakeClock implements Clock {
  constructor(private current = Date.parse('2026-01-01T00:00:00Z')) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
  }

  advanceHours(hours: number): void {
    this.advance(hours * 3_600_000);
  }

  readonly sleep: Sleep = async (ms) => {
    this.current += ms;
    await Promise.resolve();
  };
}
