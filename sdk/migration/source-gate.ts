import { DestinationLag } from './destination-lag.ts';
import type { GuardChannel } from './guard/guard-channel.ts';
import { pauseRateFor, sourceGateTable, type SourceGateRow, type StreamInFlight, type SwitchoverBasis } from './policy/switchover-gate.ts';

/** What the gate next to QEMU did at the pause before switchover. */
export interface SourceGateVerdict {
  /** It sent migrate-continue itself (`#gate-went`), or left the pause to ferry (`#gate-left`). */
  went: boolean;
  /** The RAM QEMU held at the pause, as the guard read it. */
  remainingBytes?: number;
  /** How long the guest had been paused when the guard decided (ms, never understated). */
  waitedMs?: number;
  /** The stream still in the sockets of a destination that lags, and its pace (the guard's `in_flight`): loaded in the pause too. */
  inFlight?: StreamInFlight;
  /** The source's send queue at the pause, when the guard read it (a destination said it lags). */
  unsentBytes?: number;
  /**
   * How long QEMU's vCPUs had yet to sleep in its throttle when the guard looked (ms; 0: none): QEMU's last
   * steps wait for them, and the guest would not run sooner on the source (guard-script.ts `vcpu_sleep_ms`).
   */
  vcpuSleepMs?: number;
  /** Why it left the pause to ferry: `too much left`, `waited too long`, `unarmed`, ... */
  why?: string;
  /** What its table was computed from (the estimate ferry records for a pause the guard let go). */
  basis?: SwitchoverBasis;
}

/** A table is sent again when one of its allowances moved by more than this share. */
const RESEND_SHARE = 0.05;

/**
 * ferry's end of the downtime gate in the source's guard (guard-script.ts
 * `source_gate`): ferry keeps the guard's table of what may remain at the
 * pause (from the same estimate its own gate uses, so both decide alike),
 * and the guard answers every pause before switchover, one local round trip
 * after it, with a verdict. A pause it let go never waits on ferry's link; a
 * pause it left is ferry's to answer as before. What the destination's guard
 * says its QEMU has yet to read (`#behind`) is passed on to the source's.
 */
export class SourceGate {
  readonly #guard: GuardChannel;
  readonly #stopListening: () => void;
  readonly #lag: DestinationLag | undefined;
  /** The table the guard holds, and what it was computed from (not a later basis within RESEND_SHARE of it). */
  #sent: SourceGateRow[] = [];
  #sentBasis: SwitchoverBasis | undefined;
  #verdict: SourceGateVerdict | undefined;
  readonly #arrived: Promise<void>;
  #arrive: () => void = () => {};

  constructor(guard: GuardChannel, destinationGuard?: GuardChannel) {
    this.#guard = guard;
    this.#arrived = new Promise((resolve) => (this.#arrive = resolve));
    this.#stopListening = guard.onControl((line) => this.#onControl(line));
    this.#lag = destinationGuard && new DestinationLag(destinationGuard, (lag) => guard.send(`gate-behind ${lag.bytes} ${lag.bytesPerSecond}`));
  }

  /** Gives the guard the table for `basis` (resent only when it moved). */
  arm(basis: SwitchoverBasis): void {
    const table = sourceGateTable(basis);
    if (table.length === 0) return this.disarm();
    if (this.#sent.length === table.length && table.every((row, i) => Math.abs(row.bytes - (this.#sent[i]?.bytes ?? 0)) <= RESEND_SHARE * row.bytes)) return;
    // With the pause's send rate: the guard turns a lagging destination's backlog into RAM's worth of pause.
    this.#guard.send(`gate-go ${table.map((row) => `${row.waitMs}:${row.bytes}`).join(' ')} rate:${Math.round(pauseRateFor(basis.throughput, basis.capBytesPerSecond))}`);
    this.#sent = table;
    this.#sentBasis = basis;
  }

  /** The pause is ferry's alone (post-copy or a pause accepted, or nothing fits). */
  disarm(): void {
    if (this.#sent.length > 0) this.#guard.send('gate-go off');
    this.#sent = [];
    this.#sentBasis = undefined;
  }

  /** The guard's verdict on the pause, once it came. */
  get verdict(): SourceGateVerdict | undefined {
    return this.#verdict;
  }

  /** Waits up to `timeoutMs` for the guard's verdict; undefined if none came (the guard gone). */
  async waitVerdict(timeoutMs: number): Promise<SourceGateVerdict | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#arrived, this.#guard.ended, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    return this.#verdict;
  }

  close(): void {
    this.#stopListening();
    this.#lag?.close();
    this.#arrive();
  }

  #onControl(line: string): void {
    // One pause per migration: the first verdict is the one (a late `answered` changes nothing).
    if (this.#verdict) return;
    const verdict = parseGateVerdict(line);
    if (!verdict) return;
    this.#verdict = { ...verdict, ...(this.#sentBasis && { basis: this.#sentBasis }) };
    this.#arrive();
  }
}

/**
 * A guard's `#gate-went`/`#gate-left` line (guard-script.ts `source_gate`), without the table's basis; undefined
 * for any other line. The guard says one at every pause, armed or not: unarmed, it carries the vCPUs' sleep only.
 */
export function parseGateVerdict(line: string): SourceGateVerdict | undefined {
  const [word, bytes, waited, flight, pace, unsent, sleep, ...why] = line.split(' ');
  if (word !== 'gate-went' && word !== 'gate-left') return undefined;
  const remainingBytes = Number(bytes);
  const waitedMs = Number(waited);
  const inFlight = { bytes: Number(flight), bytesPerSecond: Number(pace) };
  return {
    went: word === 'gate-went',
    ...(Number.isFinite(remainingBytes) && { remainingBytes }),
    ...(Number.isFinite(waitedMs) && { waitedMs }),
    ...(inFlight.bytes > 0 && inFlight.bytesPerSecond > 0 && { inFlight }),
    ...(Number(unsent) > 0 && { unsentBytes: Number(unsent) }),
    ...(sleep !== undefined && sleep !== '-' && Number.isFinite(Number(sleep)) && { vcpuSleepMs: Number(sleep) }),
    ...(why.length > 0 && { why: why.join(' ') }),
  };
}
