import { Vm } from '../sdk/index.ts';
import type { MigrationRegistry } from './migration-registry.ts';

/**
 * Registers every migration started in this REPL, also from plain
 * JavaScript (`const m = host('a').vm('web').migrateTo('b')`), so that
 * `.watch` can steer it and the REPL can report how it ended. The SDK has
 * no "migration started" hook, so the REPL wraps `migrateTo` while it runs
 * (and only then: the returned function puts the original back).
 */
export function trackMigrations(registry: MigrationRegistry): () => void {
  const prototype = Vm.prototype;
  const original = prototype.migrateTo;
  prototype.migrateTo = function migrateTo(this: Vm, ...args: Parameters<Vm['migrateTo']>) {
    const migration = original.apply(this, args);
    if (!migration.options.dryRun) registry.track(migration);
    return migration;
  };
  return () => {
    prototype.migrateTo = original;
  };
}
