/**
 * Per-phase progress display for long offline jobs, on stderr. On a TTY one line per phase
 * is redrawn in place with `\r`; elsewhere (CI logs, pipes) a line is printed each time a
 * phase crosses another 10%, so logs stay short and readable.
 */

/** The stream a progress display writes to (e.g. `process.stderr`). */
export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

const BAR_WIDTH = 20;
const REDRAW_MS = 80;

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Draws one progress bar per phase.
 *
 * @example
 * const bar = new PhaseProgressBar(process.stderr, 9);
 * bar.update('train ranker', 0.4, 'epoch 3/8');
 */
export class PhaseProgressBar {
  private current: string | undefined;
  private index = 0;
  private startedAt = 0;
  private lastDecile = -1;
  private lastDraw = 0;

  constructor(
    private readonly out: ProgressStream,
    /** Number of phases, for the `[i/n]` prefix. */
    private readonly phases: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reports that `phase` is `fraction` (0–1) done; a new phase name starts a new bar. */
  update(phase: string, fraction: number, note = ''): void {
    const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
    if (phase !== this.current) {
      this.current = phase;
      this.index++;
      this.startedAt = this.now();
      this.lastDecile = -1;
      this.lastDraw = 0;
    }
    const done = f >= 1;
    const prefix = `[${this.index}/${this.phases}] ${phase.padEnd(16)}`;
    const tail = done ? `done in ${formatMs(this.now() - this.startedAt)}` : note;
    if (this.out.isTTY === true) {
      const t = this.now();
      if (!done && f > 0 && t - this.lastDraw < REDRAW_MS) return;
      this.lastDraw = t;
      const filled = Math.round(f * BAR_WIDTH);
      let line = `${prefix} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(f * 100)).padStart(3)}%  ${tail}`;
      const cols = this.out.columns ?? 100;
      if (line.length > cols - 1) line = line.slice(0, cols - 1);
      this.out.write(`\r\x1b[2K${line}${done ? '\n' : ''}`);
      return;
    }
    const decile = Math.floor(f * 10);
    if (decile <= this.lastDecile) return;
    this.lastDecile = decile;
    this.out.write(`${prefix} ${String(decile * 10).padStart(3)}%${tail ? `  ${tail}` : ''}\n`);
  }
}

/** Left-aligned text table with a header row and a rule under it. */
export function formatTable(header: string[], rows: string[][], rightAlign: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => (rightAlign.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
