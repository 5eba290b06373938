import type { Clock } from '../../../shared/clock';

/** A clock tests move by hand. */
export class FakeClock implements Clock {
  constructor(private ms: number = Date.parse('2026-11-23T02:00:00Z')) {}
  now(): number {
    return this.ms;
  }
  /** Moves time forward. */
  advance(ms: number): void {
    this.ms += ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
}
