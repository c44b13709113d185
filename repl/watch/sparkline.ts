const BARS = '▁▂▃▄▅▆▇█';

/**
 * `values` as a sparkline of at most `width` cells, the newest on the
 * right, scaled to `max` (pass the same max to lines that are compared,
 * such as throughput and dirty rate). Padded on the left to `width`.
 *
 * @example
 * sparkline([1, 2, 4, 8], 8, 6) // '  ▁▂▄█'
 */
export function sparkline(values: readonly number[], max: number, width: number): string {
  const shown = values.slice(-width);
  const cells = shown.map((value) => {
    if (!(max > 0) || !(value > 0)) return BARS[0];
    const index = Math.min(BARS.length - 1, Math.max(0, Math.round((value / max) * (BARS.length - 1))));
    return BARS[index];
  });
  return cells.join('').padStart(width, ' ');
}

/** The largest finite value of all series (0 when there is none). */
export function sharedMax(...series: ReadonlyArray<readonly number[]>): number {
  let max = 0;
  for (const values of series) for (const value of values) if (Number.isFinite(value) && value > max) max = value;
  return max;
}
