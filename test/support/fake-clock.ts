import type { Clock } from '../../lib/ports';

/** A clock that moves only when told: `advance` instead of waiting out a time to live. */
export class FakeClock implements Clock {
  private current: number;

  /** Starts at `start` (epoch ms), by default the real time now, so certificates are in validity. */
  constructor(start: number = Date.now()) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`a clock only moves forward, not by ${ms} ms`);
    this.current += ms;
  }
}
