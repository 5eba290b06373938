/** 32 Mi characters: hours of a busy host's log lines, and far more than any test prints. */
export const DEFAULT_OUTPUT_TAIL_CHARS = 32 * 1024 * 1024;

/**
 * The latest output of a child process, bounded: a host that runs for hours logs lines per
 * invocation, and an unbounded string ends in `RangeError: Invalid string length` (at about 512 MiB)
 * and takes the stack down with it. Past `limit` characters the oldest half is dropped, so appending
 * stays cheap; the text then starts with a line saying how much went.
 */
export class OutputTail {
  private text = '';
  private dropped = 0;

  /** @param limit - characters kept at most (tests' secret scans read everything a short run printed) */
  constructor(private readonly limit: number = DEFAULT_OUTPUT_TAIL_CHARS) {}

  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length <= this.limit) return;
    const keep = Math.floor(this.limit / 2);
    this.dropped += this.text.length - keep;
    this.text = this.text.slice(-keep);
  }

  toString(): string {
    return this.dropped > 0 ? `[${this.dropped} earlier characters dropped]\n${this.text}` : this.text;
  }
}
