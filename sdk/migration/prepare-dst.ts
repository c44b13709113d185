import { sh } from '../transport/index.ts';
import { destinationCommandLine, pinMachineType } from './destination-command-line.ts';
import { log, migrationError, type MigrationContext } from './migration-context.ts';
import { capabilitiesFor, parametersFor } from './migration-options.ts';

/**
 * Prepare, on the destination: launch QEMU from the source's real command
 * line (runDir paths rewritten, machine type pinned, `-incoming defer`), set
 * the capabilities the migration needs there, and listen on a free port of
 * the destination's migration address. Returns the URI the source migrates to.
 */
export async function prepareDst(context: MigrationContext): Promise<string> {
  const { source, destination, vm, signal, options } = context;
  const started = performance.now();
  const dstPaths = destination.paths(vm.name);
  let argv = destinationCommandLine(context.sourceArgv ?? [], {
    sourceRunDir: source.config.runDir,
    destinationRunDir: destination.config.runDir,
    qmpSocket: dstPaths.qmp,
    pidFile: dstPaths.pid,
  });
  argv = pinMachineType(argv, context.sourceMachineType);
  if (context.rewriteCommandLine) argv = context.rewriteCommandLine(argv, { source: source.name, destination: destination.name, vm: vm.name });
  context.destinationArgv = argv;

  context.destinationLaunchAttempted = true;
  log(context, 'debug', `launching on ${destination.name}: ${argv.join(' ')}`);
  // Leftovers of an earlier failed attempt would stop QEMU from binding its socket.
  const launch = await destination.transport.shell(sh`mkdir -p ${destination.config.runDir} && rm -f ${dstPaths.qmp} ${dstPaths.pid} && exec ${argv}`, { signal, allowFailure: true });
  if (launch.exitCode !== 0) {
    const why = launch.stderr.trim().split('\n').at(-1) || `exit code ${launch.exitCode}`;
    throw migrationError(context, 'DESTINATION_LAUNCH_FAILED', 'running-on-source', `QEMU did not start on ${destination.name}: ${why}`);
  }
  const qmp = await destination.vm(vm.name).connectQmp({ signal });
  context.dstQmp = qmp;

  const capabilities = capabilitiesFor(options, 'destination').filter((capability) => capability.state);
  if (capabilities.length > 0) await qmp.execute('migrate-set-capabilities', { capabilities }, { signal });
  const parameters = parametersFor(options, 'destination');
  if (Object.keys(parameters).length > 0) await qmp.execute('migrate-set-parameters', parameters, { signal });

  // Port 0: the destination's kernel picks a free port, and QEMU reports it.
  const address = destination.migrationAddress;
  const host = address.includes(':') ? `[${address}]` : address;
  await qmp.execute('migrate-incoming', { uri: `tcp:${host}:0` }, { signal });
  const info = await qmp.execute('query-migrate', {}, { signal });
  const listening = info['socket-address']?.find((socket) => socket.type === 'inet');
  if (!listening || listening.type !== 'inet') {
    throw migrationError(context, 'DESTINATION_LISTEN_FAILED', 'running-on-source', `QEMU on ${destination.name} did not report its migration port`);
  }
  context.destinationStartMs = Math.round(performance.now() - started);
  return `tcp:${host}:${listening.port}`;
}
