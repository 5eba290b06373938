/**
 * Pauses a process with SIGSTOP and resumes it with SIGCONT: its connections stay open and nothing
 * answers, which the Azure SDKs wait on without a time limit (storage that has stopped answering).
 * Resuming a process that is not paused does nothing, so clean-up code can always resume.
 */
export class ProcessPause {
  private paused = false;

  constructor(
    private readonly pid: number | undefined,
    private readonly what: string,
  ) {}

  pause(): void {
    if (this.pid === undefined) throw new Error(`${this.what} has no process id to pause.`);
    if (this.paused) return;
    process.kill(this.pid, 'SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (this.pid === undefined || !this.paused) return;
    process.kill(this.pid, 'SIGCONT');
    this.paused = false;
  }
}
