import type { GuardChannel } from './guard/guard-channel.ts';
import { sourceGateTable, type SourceGateRow, type SwitchoverBasis } from './policy/switchover-gate.ts';

/** What the gate next to QEMU did at the pause before switchover. */
export interface SourceGateVerdict {
  /** It sent migrate-continue itself (`#gate-went`), or left the pause to ferry (`#gate-left`). */
  went: boolean;
  /** The RAM QEMU held at the pause, as the guard read it. */
  remainingBytes?: number;
  /** How long the guest had been paused when the guard decided (ms, never understated). */
  waitedMs?: number;
  /** The stream's bytes still in the sockets at the pause (the guard's `in_flight`): the destination loads them in the pause too. */
  inFlightBytes?: number;
  /** Why it left the pause to ferry: `too much left`, `waited too long`, `destination behind`, `unarmed`, ... */
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
  readonly #stopRelaying: () => void;
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
    this.#stopRelaying = destinationGuard?.onControl((line) => {
      const [word, bytes] = line.split(' ');
      if (word === 'behind' && bytes && /^\d+$/.test(bytes)) guard.send(`gate-behind ${bytes}`);
    }) ?? (() => {});
  }

  /** Gives the guard the table for `basis` (resent only when it moved). */
  arm(basis: SwitchoverBasis): void {
    const table = sourceGateTable(basis);
    if (table.length === 0) return this.disarm();
    if (this.#sent.length === table.length && table.every((row, i) => Math.abs(row.bytes - (this.#sent[i]?.bytes ?? 0)) <= RESEND_SHARE * row.bytes)) return;
    this.#guard.send(`gate-go ${table.map((row) => `${row.waitMs}:${row.bytes}`).join(' ')}`);
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
    this.#stopRelaying();
    this.#arrive();
  }

  #onControl(line: string): void {
    const [word, bytes, waited, flight, ...why] = line.split(' ');
    if (word !== 'gate-went' && word !== 'gate-left') return;
    // One pause per migration: the first verdict is the one (a late `answered` changes nothing).
    if (this.#verdict) return;
    const remainingBytes = Number(bytes);
    const waitedMs = Number(waited);
    const inFlightBytes = Number(flight);
    this.#verdict = {
      went: word === 'gate-went',
      ...(Number.isFinite(remainingBytes) && { remainingBytes }),
      ...(Number.isFinite(waitedMs) && { waitedMs }),
      ...(Number.isFinite(inFlightBytes) && { inFlightBytes }),
      ...(why.length > 0 && { why: why.join(' ') }),
      ...(this.#sentBasis && { basis: this.#sentBasis }),
    };
    this.#arrive();
  }
}
