/**
 * One `calc-dirty-rate` page-sampling window: the guest pages whose content
 * changed over `seconds`, as QEMU reports it (bytes/s over the window).
 */
export interface DirtyWindow {
  seconds: number;
  rate: number;
}

/** What the windows say about how the guest writes. Rates in bytes/s. */
export interface GuestDirtying {
  dirtyRate: number;
  /** The most it dirties however long it runs, when a long window showed it (undefined: not reached). */
  workingSetBytes?: number;
}

// A long window that counts under this share of what the short ones predict
// has run out of new pages to dirty: it saw the whole working set.
const SATURATED = 0.75;

/**
 * Page sampling counts distinct pages changed over a window, not writes: a
 * window longer than the time the guest takes to cover its working set reads
 * low (a 40 MB/s writer over 64 MiB read 22 MB/s in 3 s). So the rate comes
 * from the short windows (their mean: 1 s windows of ~1000 samples are
 * noisy), and a long window that falls short of it gives the working set.
 *
 * @example
 * dirtyingFromWindows([{ seconds: 1, rate: 40e6 }, { seconds: 3, rate: 22e6 }]) // { dirtyRate: 40e6, workingSetBytes: 66e6 }
 */
export function dirtyingFromWindows(windows: readonly DirtyWindow[]): GuestDirtying {
  if (windows.length === 0) return { dirtyRate: 0 };
  const shortest = Math.min(...windows.map((w) => w.seconds));
  const short = windows.filter((w) => w.seconds === shortest);
  const mean = short.reduce((sum, w) => sum + w.rate, 0) / short.length;
  let dirtyRate = mean;
  let workingSetBytes: number | undefined;
  for (const w of windows) {
    if (w.seconds === shortest) continue;
    // A long window is a lower bound on the rate: noise in the short ones must not go under it.
    dirtyRate = Math.max(dirtyRate, w.rate);
    const distinct = w.rate * w.seconds;
    if (mean > 0 && distinct < SATURATED * mean * w.seconds) workingSetBytes = Math.min(workingSetBytes ?? Number.POSITIVE_INFINITY, distinct);
  }
  return workingSetBytes === undefined ? { dirtyRate } : { dirtyRate, workingSetBytes };
}
