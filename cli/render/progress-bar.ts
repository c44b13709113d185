import { formatBytes, type MigrationPhase, type MigrationProgress } from '../../sdk/index.ts';
import { formatDuration, formatRate } from './format.ts';

/**
 * Renders a migration's progress for people: one line redrawn in place on a
 * terminal, or a line per phase and every few seconds elsewhere (logs, CI).
 */
export class ProgressBar {
  readonly #out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly #tty: boolean;
  #lastPlainAt = 0;
  #drawn = false;

  constructor(out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  phase(phase: MigrationPhase): void {
    this.#clear();
    this.#out.write(`  ${phase}\n`);
  }

  progress(p: MigrationProgress): void {
    const line = progressLine(p);
    if (this.#tty) {
      const width = Math.max(20, (this.#out.columns ?? 100) - 1);
      this.#out.write(`\r\x1b[2K${line.slice(0, width)}`);
      this.#drawn = true;
    } else if (performance.now() - this.#lastPlainAt > 2000 || p.transfer === 'completed') {
      this.#lastPlainAt = performance.now();
      this.#out.write(`${line}\n`);
    }
  }

  note(text: string): void {
    this.#clear();
    this.#out.write(`  ${text}\n`);
  }

  done(): void {
    this.#clear();
  }

  #clear(): void {
    if (this.#drawn) this.#out.write('\r\x1b[2K');
    this.#drawn = false;
  }
}

/** `[########----------]  42.0%  120 MiB sent, 80 MiB left  1.1 GiB/s vs dirty 20 MiB/s  pass 3` */
export function progressLine(p: MigrationProgress): string {
  const cells = 20;
  const filled = Math.round((p.percent / 100) * cells);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(cells - filled)}]`;
  if (p.disks && p.pass === 0) {
    // The disk copy runs before any memory moves.
    const eta = p.etaMs !== undefined ? `  ~${formatDuration(p.etaMs)} left` : '';
    return `  ${bar} ${p.percent.toFixed(1).padStart(5)}%  disks: ${formatBytes(p.disks.copiedBytes)} of ${formatBytes(p.disks.totalBytes)} copied  ${formatRate(p.throughput)}${eta}  ${formatDuration(p.elapsedMs)}`;
  }
  const parts = [
    `${bar} ${p.percent.toFixed(1).padStart(5)}%`,
    `${formatBytes(p.transferredBytes)} sent, ${formatBytes(p.remainingBytes)} left`,
    `${formatRate(p.throughput)} vs dirty ${formatRate(p.dirtyRate)}`,
    `pass ${p.pass}`,
    formatDuration(p.elapsedMs),
  ];
  if (p.throttlePercent > 0) parts.push(`throttle ${p.throttlePercent}%`);
  return `  ${parts.join('  ')}`;
}
