import { randomUUID } from 'node:crypto';
import { AwaitableOperation } from '../awaitable-operation.ts';
import type { Fleet } from '../model/fleet.ts';
import { EvacuationEvents, type EvacuationEventMap } from './evacuation-events.ts';
import { resolveEvacuateOptions, type EvacuateOptions, type ResolvedEvacuateOptions } from './evacuation-options.ts';
import type { EvacuationReport } from './evacuation-report.ts';
import { runEvacuation } from './run-evacuation.ts';

/**
 * Many migrations off one host (or, as a move-back, home again): `await` it
 * for the EvacuationReport (it never rejects halfway: every VM is moved,
 * failed or skipped in the report), listen to its events, or `cancel()` it:
 * migrations in flight are cancelled (their VMs stay on the source), the
 * rest are skipped. It starts on the next turn of the event loop, so
 * listeners added in the same tick see the plan.
 *
 * @example
 * const evacuation = host('a').evacuate({ to: ['b', 'c'] });
 * evacuation.on('done', (outcome) => console.log(outcome.vm, outcome.status));
 * const report = await evacuation;
 */
export class Evacuation extends AwaitableOperation<EvacuationReport, EvacuationEventMap> {
  readonly id: string = randomUUID();
  readonly host: string;
  readonly mode: 'evacuate' | 'move-back';
  readonly options: ResolvedEvacuateOptions;
  readonly #fleet: Fleet;
  readonly #events: EvacuationEvents;
  readonly #cancel = new AbortController();
  readonly #report: Promise<EvacuationReport>;
  readonly #raw: EvacuateOptions;

  constructor(fleet: Fleet, host: string, options: EvacuateOptions = {}, mode: 'evacuate' | 'move-back' = 'evacuate') {
    const events = new EvacuationEvents();
    super(events);
    this.#events = events;
    this.#fleet = fleet;
    this.host = host;
    this.mode = mode;
    this.#raw = options;
    // Bad options and unknown hosts fail here, before anything is touched.
    this.options = resolveEvacuateOptions(options);
    fleet.hostConfig(host);
    for (const name of this.options.to ?? []) fleet.hostConfig(name);
    const signal = options.signal ? AbortSignal.any([this.#cancel.signal, options.signal]) : this.#cancel.signal;
    this.#report = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => runEvacuation({ id: this.id, fleet, mode, home: host, options: this.options, signal, events: this.#events }))
      .finally(() => queueMicrotask(() => this.#events.removeAll()));
  }

  /** Cancels: migrations in flight are cancelled (VMs stay where they were), VMs not started are skipped. */
  cancel(reason = 'cancelled by the caller'): void {
    this.#cancel.abort(reason);
  }

  /**
   * Returns the VMs this host's evacuations moved away (as the journal
   * says) to it, once its maintenance has ended.
   *
   * @example
   * await host('a').endMaintenance();
   * await evacuation.moveBack();
   */
  moveBack(options: Omit<EvacuateOptions, 'to' | 'journal'> = {}): Evacuation {
    return new Evacuation(this.#fleet, this.host, { ...options, ...(this.#raw.journal !== undefined && { journal: this.#raw.journal }) }, 'move-back');
  }

  protected get outcome(): Promise<EvacuationReport> {
    return this.#report;
  }
}
