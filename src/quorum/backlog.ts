/**
 * A bound on bytes handed to a slower consumer (a learner's SNAP on its way to the spool file):
 * the source is paused once more than the limit waits, and resumed when half of it is left.
 */
export class Backlog {
  private bytes = 0;
  private paused = false;

  constructor(
    private readonly limitBytes: number,
    private readonly pause: () => void,
    private readonly resume: () => void,
  ) {}

  get pendingBytes(): number {
    return this.bytes;
  }

  added(n: number): void {
    this.bytes += n;
    if (!this.paused && this.bytes > this.limitBytes) {
      this.paused = true;
      this.pause();
    }
  }

  done(n: number): void {
    this.bytes -= n;
    if (this.paused && this.bytes <= this.limitBytes / 2) {
      this.paused = false;
      this.resume();
    }
  }
}
