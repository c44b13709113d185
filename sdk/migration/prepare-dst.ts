import { QmpClient } from '../qmp/index.ts';
import { guardLogPath } from '../model/vm-paths.ts';
import { sh } from '../transport/index.ts';
import { destinationCommandLine, pinMachineType } from './destination-command-line.ts';
import { GuardChannel } from './guard/guard-channel.ts';
import { enterStage, log, migrationError, type MigrationContext } from './migration-context.ts';
import { planParameters } from './parameter-plan.ts';
import { addObjects } from './tls/tls-apply.ts';
import { nbdServerTls } from './tls/tls-settings.ts';
import { vmFiles } from './vm-files.ts';

/**
 * Prepare, on the destination: start its guard, which creates the images of
 * disks to copy and launches QEMU from the source's real command line
 * (runtime files moved to its runDir, disk paths kept, machine type pinned,
 * `-S`, `-incoming defer`) and relays QMP, so that a ferry killed at any
 * moment from here on leaves no orphan QEMU and no copied image. Then set
 * the capabilities the migration needs there, export the disks to copy over
 * NBD, and listen on a free port of the destination's migration address.
 * Returns the URI the source migrates to.
 */
export async function prepareDst(context: MigrationContext, early?: GuardChannel): Promise<string> {
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

  enterStage(context, 'destination-started');
  log(context, 'debug', `launching on ${destination.name}: ${argv.join(' ')}`);
  // Leftovers of an earlier failed attempt would stop QEMU from binding its socket;
  // QEMU's own output goes to stderr so that the guard's stdout stays QMP.
  // Disks to copy are created empty first, so that QEMU opens them at their own paths.
  const copy = context.storage?.copy;
  const launch = copy?.active
    ? copy.launchScript(sh`mkdir -p ${destination.config.runDir} && rm -f ${dstPaths.qmp} ${dstPaths.pid} && ${argv} 1>&2`)
    : sh`mkdir -p ${destination.config.runDir} && rm -f ${dstPaths.qmp} ${dstPaths.pid} && exec ${argv} 1>&2`;
  const cleanup = vmFiles(destination, vm.name, argv);
  const created = copy?.active ? copy.createdImages : [];
  // The guard started beside preflight (early-dst-guard.ts) only waits for this; else one starts now.
  const guard = early && !early.closed ? early : await GuardChannel.start(destination, {
    role: 'dst',
    qmp: dstPaths.qmp,
    pidfile: dstPaths.pid,
    launch,
    cleanup,
    created,
    log: guardLogPath(destination.config.runDir),
    label: vm.name,
  }, { signal });
  if (guard === early) guard.sendLaunch(launch, cleanup, created);
  context.dstGuard = guard;
  const hello = await guard.nextControl(30_000);
  const launched = hello?.startsWith('guard ') ? await guard.nextControl(60_000) : hello;
  if (launched === undefined || !launched.startsWith('vm ')) {
    const why = guard.stderr.trim().split('\n').at(-1) || (launched === undefined ? "ferry's guard did not start (it needs perl, from perl-base)" : launched);
    throw migrationError(context, 'DESTINATION_LAUNCH_FAILED', 'running-on-source', `QEMU did not start on ${destination.name}: ${why}`);
  }
  guard.startHeartbeat();
  if (context.sourceWasRunning !== undefined) guard.send(`was-running ${context.sourceWasRunning ? 1 : 0}`);
  const qmp = await QmpClient.connect(guard.qmp, { label: `${destination.name}/${vm.name}`, signal });
  context.dstQmp = qmp;

  // The destination's share of the one parameter plan (what a dry run lists).
  const { objects, capabilities, parameters } = planParameters(options, context.sourceMemoryBytes, context.tls, source.name).destination;
  // TLS credentials first: tls-creds names them, and they must be there before migrate-incoming.
  await addObjects(context, 'destination', qmp, objects);
  await qmp.execute('migrate-set-capabilities', { capabilities }, { signal });
  if (Object.keys(parameters).length > 0) await qmp.execute('migrate-set-parameters', parameters, { signal });

  // The disks to copy are served over NBD from the destination's migration address.
  if (copy?.active) await copy.exportOnDestination(qmp, destination.migrationAddress, signal, nbdServerTls(context.tls));

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
