/**
 * The progress line of a long run on a terminal: one line on stderr, redrawn in place
 * with `\r`, cleared before anything else is written (the guest's console on stdout,
 * QEMU's messages on stderr) so it never mixes with them.
 */

const CLEAR = "\r\x1b[K";

export class ProgressLine {
  private shown = false;
  private lastDraw = -Infinity;

  /**
   * @param write stderr
   * @param delayMs show nothing before the run is this old (short runs stay silent)
   * @param intervalMs redraw at most this often
   */
  constructor(
    private readonly write: (text: string) => void,
    private readonly enabled: boolean,
    private readonly delayMs = 1000,
    private readonly intervalMs = 200,
  ) {}

  /** Redraw (if due): elapsed, exits, exits/s. */
  update(now: number, start: number, exits: number): void {
    if (!this.enabled) return;
    const elapsed = now - start;
    if (elapsed < this.delayMs || now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    this.write(`${CLEAR}${formatProgress(elapsed, exits)}`);
    this.shown = true;
  }

  /** Remove the line (before other output, and at the end). */
  clear(): void {
    if (!this.shown) return;
    this.write(CLEAR);
    this.shown = false;
  }
}

/** `glassvm: 12.3 s, 1234567 exits, 100371 exits/s`. */
export function formatProgress(elapsedMs: number, exits: number): string {
  const s = elapsedMs / 1000;
  const rate = s > 0 ? Math.round(exits / s) : 0;
  return `glassvm: ${s.toFixed(1)} s, ${exits} exits, ${rate} exits/s`;
}
