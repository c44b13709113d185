import { EventEmitter } from 'node:events';

/**
 * A typed event source for long operations (a migration, an evacuation).
 * A listener that throws never breaks the operation it watches.
 *
 * @example
 * const events = new TypedEvents<{ progress: [percent: number] }>();
 * events.on('progress', (percent) => console.log(percent));
 */
export class TypedEvents<EventMap extends { [K in keyof EventMap]: unknown[] }> {
  readonly #emitter = new EventEmitter();

  on<K extends keyof EventMap & string>(event: K, listener: (...args: EventMap[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof EventMap & string>(event: K, listener: (...args: EventMap[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  emit<K extends keyof EventMap & string>(event: K, ...args: EventMap[K]): void {
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as (...args: EventMap[K]) => void)(...args);
      } catch {
        // ignored on purpose: observers must not break what they observe
      }
    }
  }

  removeAll(): void {
    this.#emitter.removeAllListeners();
  }
}
