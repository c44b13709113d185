import type { GuardChannel } from './guard/guard-channel.ts';
import type { StreamInFlight } from './policy/switchover-gate.ts';

/**
 * What the destination's guard says of its QEMU's lag behind the migration
 * stream (guard-script.ts `say_behind`: `#behind BYTES RATE`, `#behind 0 0`
 * once it keeps up again): the stream unread there, and the pace it reads at.
 * Passed on to the source's guard for the gate next to QEMU, and kept for
 * ferry's own gate.
 */
export class DestinationLag {
  #latest: StreamInFlight | undefined;
  readonly #stopListening: () => void;

  constructor(destinationGuard: GuardChannel, onSaid?: (lag: StreamInFlight) => void) {
    this.#stopListening = destinationGuard.onControl((line) => {
      const lag = parseBehind(line);
      if (!lag) return;
      this.#latest = lag.bytes > 0 && lag.bytesPerSecond > 0 ? lag : undefined;
      onSaid?.(lag);
    });
  }

  /** The lag last said, or undefined while the destination keeps up. */
  get latest(): StreamInFlight | undefined {
    return this.#latest;
  }

  close(): void {
    this.#stopListening();
  }
}

function parseBehind(line: string): StreamInFlight | undefined {
  const match = /^behind (\d+) (\d+)$/.exec(line);
  return match ? { bytes: Number(match[1]), bytesPerSecond: Number(match[2]) } : undefined;
}
