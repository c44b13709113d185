import { setTimeout as sleep } from 'node:timers/promises';
import type { MigrationInfo, MigrationParameters, QmpClient } from '../qmp/index.ts';
import { enterStage, log, migrationError, switchedOver, type MigrationContext } from './migration-context.ts';
import { effectiveTimeoutMs, parametersFor } from './migration-options.ts';
import { planParameters, throttleParameters } from './parameter-plan.ts';
import { diskCopyPhaseProgress, ProgressTracker } from './migration-progress.ts';
import type { DiskCopy } from './storage/disk-copy.ts';
import { LiveDirtyRate } from './live-dirty-rate.ts';
import type { ConvergenceAction, ConvergencePolicy, ConvergenceSample } from './policy/convergence-policy.ts';
import { PolicyRunner, type ConvergenceActionRecord } from './policy/policy-runner.ts';
import { policyName, resolvePolicy } from './policy/policy-presets.ts';
import { LinkRate } from './policy/link-rate.ts';
import { estimateSwitchover, qemuSteeringFor, switchoverPauseCostMs, type QemuSteering, type StreamInFlight, type SwitchoverBasis, type SwitchoverEstimate } from './policy/switchover-gate.ts';
import { DestinationLag } from './destination-lag.ts';
import { parseGateVerdict, SourceGate, type SourceGateVerdict } from './source-gate.ts';
import { transferState } from './qemu-migration-status.ts';
import { StallWatch } from './stall-watch.ts';
import { lostGuardMessage } from './guard/lost-guard-message.ts';
import { PostcopyKeeper } from './postcopy-keeper.ts';
import { addObjects, objectRemovalLines } from './tls/tls-apply.ts';
import { tlsMigrationError } from './tls/tls-errors.ts';
import { nbdClientTls } from './tls/tls-settings.ts';

// The last few looks: the host as it is at the end, not during setup (whose first queries are slow).
const ROUND_TRIPS_KEPT = 5;

// The mirrors' last writes are sent in the pause; the guard's gate cancels long before this if the budget is spent.
const DISK_FINISH_TIMEOUT_MS = 30_000;

/** Why ferry (or its guard) asked QEMU to stop migrating. */
export type CancelReason = 'cancelled' | 'timeout' | 'policy' | 'downtime' | 'stalled' | 'destination-lost' | 'guard';

/**
 * Perform, on the source: save the settings ferry will change, set
 * capabilities and parameters (what the convergence policy needs included:
 * capabilities cannot change once QEMU migrates), `migrate`, and watch until
 * QEMU reports the transfer completed. Progress comes from `query-migrate`
 * polling woken by QEMU's MIGRATION events, faster as the end nears; the
 * policy is asked on every pass and about once a second. With
 * `pause-before-switchover` the downtime guarantee checks the final pause
 * before QEMU may take it. Cancellation (and a timeout whose action is
 * cancel) asks QEMU to cancel and waits for it.
 */
export async function performSrc(context: MigrationContext, uri: string): Promise<MigrationInfo> {
  const qmp = context.srcQmp;
  if (!qmp) throw new Error('ferry bug: perform without a source QMP connection');
  const { signal } = context;
  const policy = resolvePolicy(context.options.policy);
  // The same plan a dry run reports (parameter-plan.ts): options with the policy's needs, and what each side gets.
  const plan = planParameters(context.options, context.sourceMemoryBytes, context.tls, context.source.name);
  context.options = plan.options;
  const options = context.options;
  const [capabilities, parameters] = await Promise.all([
    qmp.execute('query-migrate-capabilities', {}, { signal }),
    qmp.execute('query-migrate-parameters', {}, { signal }),
  ]);
  context.settings = { source: plan.source, destination: plan.destination };
  const wantedCapabilities = plan.source.capabilities;
  const wantedParameters = plan.source.parameters;
  const initialDowntimeMs = plan.initialDowntimeMs;
  const initialThrottle = plan.initialThrottlePercent;
  // QEMU 8.2+ has avail-switchover-bandwidth, which steering sets (qemuSteeringFor): saved with the rest, to be undone.
  const steeredKeys = [...Object.keys(wantedParameters), ...(parameters['avail-switchover-bandwidth'] !== undefined ? ['avail-switchover-bandwidth'] : [])];
  context.savedSource = {
    capabilities: capabilities.filter((saved) => wantedCapabilities.some((wanted) => wanted.capability === saved.capability)),
    parameters: Object.fromEntries(steeredKeys.map((key) => [key, parameters[key as keyof MigrationParameters]])) as Partial<MigrationParameters>,
  };
  const steering: QemuSteering = {
    downtimeLimitMs: wantedParameters['downtime-limit'] ?? 1,
    ...(parameters['avail-switchover-bandwidth'] !== undefined && { availSwitchoverBandwidth: parameters['avail-switchover-bandwidth'] }),
  };
  context.record.migrationUri = uri;
  armSourceGuard(context);
  // Both guards learn where a broken post-copy resumes, should ferry be lost then.
  for (const guard of [context.srcGuard, context.dstGuard]) guard?.send(`uri ${uri}`);
  // After arming the guard: from here every path that leaves the VM here removes them.
  await addObjects(context, 'source', qmp, plan.source.objects);
  await qmp.execute('migrate-set-capabilities', { capabilities: wantedCapabilities }, { signal });
  await qmp.execute('migrate-set-parameters', wantedParameters, { signal });

  const runner = new PolicyRunner(
    policy,
    {
      maxDowntimeMs: options.maxDowntime,
      allowPostcopy: options.postcopy,
      allowPause: options.allowPause,
      canThrottle: options.autoConverge,
      heavyThrottleLimitMs: options.heavyThrottleLimit,
      timeoutMs: effectiveTimeoutMs(options, context.sourceMemoryBytes ?? 0),
      memoryBytes: context.sourceMemoryBytes ?? 0,
    },
    { downtimeLimitMs: initialDowntimeMs, downtimeLimitSetAtMs: 0, bandwidth: options.bandwidth, throttlePercent: initialThrottle, postcopy: false, paused: false },
  );
  context.convergence = { policy: policyName(options.policy), actions: runner.records, passStats: runner.passes };
  enterStage(context, 'transferring');
  const copy = context.storage?.copy;
  if (copy?.active) await copyDisksSrc(context, copy);
  const events = qmp.events(['MIGRATION', 'MIGRATION_PASS']);
  try {
    await qmp.execute('migrate', { uri }, { signal });
    return await watchSrc(context, runner, policy, steering, () => events.next().then(() => undefined));
  } finally {
    events.close();
  }
}

/**
 * Tells the source's guard how to undo ferry's settings and how long QEMU's
 * pause before switchover may wait for ferry, before anything is changed.
 */
function armSourceGuard(context: MigrationContext): void {
  const guard = context.srcGuard;
  const saved = context.savedSource;
  if (!guard || !saved) return;
  const restore: string[] = [];
  // The mirrors first: cancelled at once, their NBD nodes removed once free (the source keeps its own disks).
  for (const control of context.storage?.copy.active ? context.storage.copy.sourceRestoreControls() : []) guard.send(control);
  // `events` stays on: it is harmless, and another tool may rely on it.
  const capabilities = saved.capabilities.filter((capability) => capability.capability !== 'events');
  if (capabilities.length > 0) restore.push(JSON.stringify({ execute: 'migrate-set-capabilities', arguments: { capabilities } }));
  if (Object.keys(saved.parameters).length > 0) restore.push(JSON.stringify({ execute: 'migrate-set-parameters', arguments: saved.parameters }));
  // tls-creds is set back first (above), then its objects go.
  restore.push(...objectRemovalLines(context.settings?.source.objects ?? []));
  for (const line of restore) guard.send(`restore ${line}`);
  context.record.restore = restore;
  guard.send(`record ${JSON.stringify(context.record)}`);
  guard.send(`gate ${gateDeadlineMs(context.options.maxDowntime)}`);
}

/**
 * The disks that are not shared go first (as libvirt and Proxmox do): a
 * mirror per disk into the destination's NBD export, until every mirror has
 * caught up and only follows the guest's writes. RAM migrates after that;
 * the mirrors are finished in the pause before switchover.
 */
async function copyDisksSrc(context: MigrationContext, copy: DiskCopy): Promise<void> {
  const qmp = context.srcQmp;
  if (!qmp) throw new Error('ferry bug: disk copy without a source QMP connection');
  const started = performance.now();
  const cap = context.options.bandwidth;
  await copy.startMirrors(qmp, cap === 'unlimited' ? 0 : cap, context.signal, nbdClientTls(context.tls));
  log(context, 'info', `copying ${copy.disks.length} disk(s), ${Math.round(copy.totalBytes / 1024 ** 2)} MiB, to ${context.destination.name} over NBD`);
  try {
    const done = await copy.waitReady(qmp, {
      signal: context.signal,
      stallMs: context.options.stallTimeout,
      onProgress: (disks) => {
        const progress = diskCopyPhaseProgress(context.phase, disks, performance.now() - started);
        context.lastProgress = progress;
        context.events.emit('progress', progress);
      },
    });
    context.diskCopyMs = Math.round(performance.now() - started);
    log(context, 'info', `disks copied (${Math.round(done.copiedBytes / 1024 ** 2)} MiB in ${context.diskCopyMs} ms); the mirrors follow the guest's writes while memory moves`);
  } catch (error) {
    if (context.signal.aborted) throw migrationError(context, 'MIGRATION_CANCELLED', 'unknown', 'cancelled during the disk copy', error);
    throw migrationError(context, 'DISK_COPY_FAILED', 'unknown', error instanceof Error ? error.message : String(error), error);
  }
}

/** How long the guard lets QEMU's pause wait for ferry's answer before it cancels: the budget itself. */
function gateDeadlineMs(maxDowntime: number): number {
  return Math.max(50, Math.round(maxDowntime));
}

async function watchSrc(context: MigrationContext, runner: PolicyRunner, policy: ConvergencePolicy | undefined, initialSteering: QemuSteering, nextEvent: () => Promise<void>): Promise<MigrationInfo> {
  const qmp = context.srcQmp;
  if (!qmp) throw new Error('ferry bug: watch without a source QMP connection');
  const tracker = new ProgressTracker();
  const started = performance.now();
  const timeoutMs = effectiveTimeoutMs(context.options, context.sourceMemoryBytes ?? 0);
  let cancelSent: CancelReason | undefined;
  let cancelWhy = '';
  let timeoutActed = false;
  let preSwitchoverSeenAt: number | undefined;
  let lastTransferSample: ConvergenceSample | undefined;
  let lastTransferInfo: MigrationInfo | undefined;
  let steering = initialSteering;
  const linkRate = new LinkRate();
  const liveDirtyRate = policy ? new LiveDirtyRate(qmp) : undefined;
  const stall = new StallWatch(context.options.stallTimeout);
  const postcopy = new PostcopyKeeper(context, context.record.migrationUri ?? '', timeoutMs);
  let gateExpired = false;
  let guardSleepMs: number | undefined;
  const stopListening = context.srcGuard?.onControl((line) => {
    if (line === 'gate-expired') gateExpired = true;
    // The guard reads the vCPUs' throttle sleep at every pause, also one ferry's own gate decides (disks copied);
    // registered before SourceGate's listener, this has it by the time any verdict is read.
    const sleep = parseGateVerdict(line)?.vcpuSleepMs;
    if (sleep === undefined || guardSleepMs !== undefined) return;
    guardSleepMs = sleep;
    // Said after ferry's gate already decided: kept for the result's report all the same.
    const recorded = context.convergence?.switchover;
    if (recorded && recorded.vcpuSleepMs === undefined) noteVcpuSleep(context, recorded, sleep);
  });
  // The gate next to QEMU, unless disks are copied: their mirrors are finished in the pause by ferry.
  const sourceGate = context.options.switchoverGate === 'source' && context.srcGuard && !context.storage?.copy.active ? new SourceGate(context.srcGuard, context.dstGuard) : undefined;
  // ferry's own gate counts a lagging destination's backlog from what its guard last said (the send queue unseen).
  const destinationLag = !sourceGate && context.dstGuard ? new DestinationLag(context.dstGuard) : undefined;
  let sourceGateWent = false;
  let gateMs = context.options.maxDowntime;
  let destinationResumed = false;
  const copy = context.storage?.copy;
  let diskRemaining = 0;
  // The source's recent QMP round trips: how busy its host is, which the switchover's overhead follows.
  const roundTrips: number[] = [];
  try {
    // One pending wake-up at a time: the next QEMU event, shared across polls.
    let eventWake: Promise<void> | undefined;
    for (;;) {
      // Not passing the signal: a cancel must still be able to query and cancel.
      const askedAt = performance.now();
      // With disks being copied, their mirrors are read in the same round trip: what is left counts at the switchover.
      const [info, disks] = await Promise.all([
        qmp.execute('query-migrate'),
        copy?.active && !switchedOver(context) && !cancelSent ? copy.progress(qmp).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))) : undefined,
      ]);
      const queryMs = performance.now() - askedAt;
      roundTrips.push(queryMs);
      if (roundTrips.length > ROUND_TRIPS_KEPT) roundTrips.shift();
      // A cancel (ferry's, or its guard's at the gate) ends the destination QEMU and so the mirrors into it:
      // their end is the cancel's doing, and its reason stands.
      if (disks instanceof Error) {
        if (!['cancelling', 'cancelled'].includes(transferState(info.status))) throw disks;
      } else if (disks) diskRemaining = disks.totalBytes - disks.copiedBytes;
      context.lastInfo = info;
      // The guard's verdict comes before any reply that follows its continue: the stages follow QEMU's order.
      if (!sourceGateWent && sourceGate?.verdict?.went) {
        switchedOverBySource(context, sourceGate.verdict);
        sourceGateWent = true;
      }
      const elapsed = performance.now() - started;
      const sample = runner.observe(info, elapsed);
      const progress = tracker.update(info, context.phase, elapsed, { throughput: sample.throughput, ...(sample.sampledDirtyRate !== undefined && { sampledDirtyRate: sample.sampledDirtyRate }), downtimeLimitMs: runner.settings.downtimeLimitMs, lastAction: runner.records.at(-1) });
      context.lastProgress = progress;
      context.events.emit('progress', progress);
      switch (progress.transfer) {
        case 'completed':
          // The guest waits paused on the destination: resume it first, read QEMU's final figures after.
          enterStage(context, 'committed');
          return info;
        case 'failed':
          // A transfer ferry was cancelling may end `failed` (its socket shut down mid-write): ferry's reason stands.
          if (cancelSent && cancelWhy) throw migrationError(context, 'MIGRATION_CANCELLED', 'unknown', `${cancelWhy} (QEMU: ${info['error-desc'] ?? 'failed'})`);
          throw (await tlsMigrationError(context, info)) ?? migrationError(context, 'MIGRATION_FAILED', 'unknown', `QEMU reports the migration failed: ${info['error-desc'] ?? 'no reason given'}`);
        case 'cancelled': {
          const code = cancelSent === 'timeout' ? 'MIGRATION_TIMEOUT' : 'MIGRATION_CANCELLED';
          const guardWhy = gateExpired ? `the switchover was not answered within ${gateDeadlineMs(gateMs)} ms (ferry's link to ${context.source.name} too slow or down), so the guard on ${context.source.name} cancelled it` : '';
          throw migrationError(context, code, 'unknown', cancelSent === 'timeout' ? `timed out after ${timeoutMs} ms` : cancelWhy || guardWhy || 'cancelled');
        }
        case 'postcopy':
          enterStage(context, 'postcopy');
          // The destination (started with -S) owns the guest from here: let it run.
          if (!destinationResumed && context.sourceWasRunning !== false) destinationResumed = await resumeDestination(context);
          await postcopy.look(info, elapsed);
          break;
        case 'transferring':
          lastTransferSample = sample;
          linkRate.update(sample.throughput, qemuBandwidth(info));
          lastTransferInfo = info;
          break;
        default:
          break;
      }
      if (info.status === 'pre-switchover' && preSwitchoverSeenAt === undefined && !cancelSent && !sourceGateWent) {
        preSwitchoverSeenAt = performance.now();
        enterStage(context, 'paused-for-switchover');
        // The guard answers every pause; one it let go is past ferry's gate, one it left is ferry's.
        const verdict = await sourceGate?.waitVerdict(gateDeadlineMs(gateMs));
        if (verdict?.went) {
          switchedOverBySource(context, verdict);
          sourceGateWent = true;
          continue;
        }
        if (verdict) log(context, 'debug', `the guard on ${context.source.name} left the pause to ferry: ${verdict.why ?? ''} (${verdict.remainingBytes === undefined ? '?' : mib(verdict.remainingBytes)} MiB left, ${verdict.inFlight ? `${mib(verdict.inFlight.bytes)} MiB in the sockets of a lagging destination, ` : verdict.unsentBytes !== undefined ? `a lagging destination caught up (${mib(verdict.unsentBytes)} MiB unsent), ` : ''}${verdict.waitedMs ?? '?'} ms waited)`);
        // The pause began before the reply left QEMU: count the query's round trip as part of the wait.
        const go = await gateSwitchover(context, runner, info, diskRemaining, verdict ? verdict.inFlight : destinationLag?.latest, lastTransferSample ?? sample, linkRate.planning || averageThroughput(lastTransferInfo ?? info), preSwitchoverSeenAt - queryMs, roundTrips, guardSleepMs);
        if (!go) {
          cancelSent = 'downtime';
          cancelWhy = runner.records.at(-1)?.reason ?? 'the switchover would exceed maxDowntime';
        }
        continue;
      }
      if (!cancelSent && !switchedOver(context) && context.signal.aborted) {
        cancelSent = 'cancelled';
        log(context, 'info', 'cancelling: migrate_cancel');
        await qmp.execute('migrate_cancel');
      }
      if (!cancelSent && !switchedOver(context) && context.dstGuard?.closed) {
        // Its guard ended the destination QEMU (or will): nothing can arrive there any more.
        cancelSent = 'destination-lost';
        // Its QEMU may have exited first (the guard says so, with QEMU's last words on stderr): say which.
        cancelWhy = lostGuardMessage(context.dstGuard, 'destination');
        log(context, 'warn', `${cancelWhy}: migrate_cancel`);
        await qmp.execute('migrate_cancel');
      }
      if (!cancelSent && !switchedOver(context) && stall.stalled(info, elapsed)) {
        // QEMU's migration socket has no keepalive: a link cut for good never fails by itself.
        cancelSent = 'stalled';
        cancelWhy = `the transfer to ${context.destination.name} made no progress for ${Math.round(context.options.stallTimeout / 1000)} s (the migration link is down?)`;
        log(context, 'warn', `${cancelWhy}: migrate_cancel`);
        await qmp.execute('migrate_cancel');
      }
      if (!cancelSent && progress.transfer === 'transferring' && liveDirtyRate) {
        const rate = await liveDirtyRate.look(sample.pass, performance.now());
        if (rate !== undefined) runner.sampledDirtyRate(rate);
      }
      if (!cancelSent && progress.transfer === 'transferring' && policy) {
        for (const action of runner.decide(sample)) {
          const outcome = await applyAction(context, runner, action, sample);
          if (outcome === 'cancelled') {
            cancelSent = 'policy';
            cancelWhy = `cancelled by the ${context.convergence?.policy ?? ''} policy: ${action.reason}`;
            break;
          }
        }
      }
      // setMaxDowntime() changes the options from outside; the runner's bound and the guard's deadline follow here.
      if (context.options.maxDowntime !== runner.limits.maxDowntimeMs) runner.setBudget(context.options.maxDowntime);
      if (context.options.maxDowntime !== gateMs) {
        gateMs = context.options.maxDowntime;
        context.srcGuard?.send(`gate ${gateDeadlineMs(gateMs)}`);
      }
      if (!cancelSent && progress.transfer === 'transferring' && !runner.settings.postcopy && !runner.settings.paused) {
        steering = await steerSwitchover(context, runner, info, linkRate, steering);
        sourceGate?.arm(switchoverBasis(context, runner, linkRate.planning || averageThroughput(info)));
      } else if (cancelSent || runner.settings.postcopy || runner.settings.paused) {
        // A pause already accepted (post-copy, or the policy's), or a cancel under way: ferry answers.
        sourceGate?.disarm();
      }
      if (!timeoutActed && !cancelSent && elapsed > timeoutMs) {
        timeoutActed = true;
        cancelSent = await actOnTimeout(context, runner, timeoutMs, elapsed, sample);
      }
      eventWake ??= nextEvent().finally(() => (eventWake = undefined));
      const stop = new AbortController();
      try {
        await Promise.race([
          sleep(pollIntervalMs(info), undefined, { signal: stop.signal }).catch(() => undefined),
          eventWake,
          abortWake(context.signal, cancelSent !== undefined, stop.signal),
        ]);
      } finally {
        stop.abort(); // removes this round's timer and abort listener
      }
    }
  } finally {
    stopListening?.();
    sourceGate?.close();
    destinationLag?.close();
  }
}

/**
 * The guard next to QEMU let the switchover go: the pause is past the gate.
 * What it decided on is recorded as ferry's own gate records its estimate.
 */
function switchedOverBySource(context: MigrationContext, verdict: SourceGateVerdict): void {
  enterStage(context, 'paused-for-switchover');
  enterStage(context, 'switching-over');
  if (!verdict.basis) return;
  const estimate = recordSwitchover(context, { ...estimateSwitchover({ ...verdict.basis, remainingBytes: verdict.remainingBytes ?? 0, inFlight: verdict.inFlight, waitedMs: verdict.waitedMs ?? 0 }), decidedBy: 'source' }, context.lastInfo, verdict.vcpuSleepMs);
  log(context, 'info', `switchover: the guard on ${context.source.name} let it go next to QEMU: ${mib(estimate.remainingBytes)} MiB left at ${mib(estimate.pauseRate)} MiB/s (planned from the link's ${mib(estimate.throughput)} MiB/s)${inFlightText(estimate)} + ${estimate.overheadMs} ms overhead + ${estimate.waitedMs} ms waited ≈ ${estimate.estimateMs} ms fits maxDowntime ${estimate.maxDowntimeMs} ms`);
}

/** The stream still in the sockets of a destination that lags, as the switchover's log line says it. */
function inFlightText(estimate: SwitchoverEstimate): string {
  return estimate.inFlight ? ` + ${mib(estimate.inFlight.bytes)} MiB still in the sockets, loaded at the destination's ${mib(estimate.inFlight.bytesPerSecond)} MiB/s` : '';
}

/**
 * Keeps the estimate the switchover was decided on in the result, with the throttle QEMU applied at the pause
 * and the vCPUs' throttle sleep the source's guard saw still to come.
 */
function recordSwitchover(context: MigrationContext, estimate: SwitchoverEstimate, info: MigrationInfo | undefined, vcpuSleepMs: number | undefined): SwitchoverEstimate {
  const throttlePercent = info?.['cpu-throttle-percentage'] ?? 0;
  if (throttlePercent > 0) estimate.throttlePercent = throttlePercent;
  if (vcpuSleepMs !== undefined) noteVcpuSleep(context, estimate, vcpuSleepMs);
  if (context.convergence) context.convergence.switchover = estimate;
  return estimate;
}

/** Keeps the guard's reading of the vCPUs' throttle sleep at the pause with the switchover's estimate, and warns of one. */
function noteVcpuSleep(context: MigrationContext, estimate: SwitchoverEstimate, vcpuSleepMs: number): void {
  estimate.vcpuSleepMs = vcpuSleepMs;
  // Not counted against the budget: a cancel resumes a vCPU that sleeps on just as long.
  if (vcpuSleepMs > 0) log(context, 'warn', `the pause lasts ${vcpuSleepMs} ms more at least: a vCPU on ${context.source.name} is in QEMU's throttle sleep, begun after the stop, which QEMU's last steps wait for (a QEMU defect; the guest would not run sooner on the source)`);
}

/** What the downtime estimate plans with now, but the pause's own figures: for the gate next to QEMU. */
function switchoverBasis(context: MigrationContext, runner: PolicyRunner, throughput: number): SwitchoverBasis {
  return { throughput, maxDowntimeMs: context.options.maxDowntime, fixedCostMs: pauseCostMs(context), ...capOf(runner) };
}

/**
 * QEMU has stopped the guest and waits: continue only if the final pause
 * fits maxDowntime. QEMU 7.2 cannot go back to iterating from here, so a
 * pause that would not fit ends in a cancel, and the guest runs on at the
 * source. Post-copy and a permitted pause have already accepted the stop.
 */
async function gateSwitchover(context: MigrationContext, runner: PolicyRunner, info: MigrationInfo, diskRemainingBytes: number, inFlight: StreamInFlight | undefined, before: ConvergenceSample, throughput: number, seenAt: number, roundTrips: readonly number[], vcpuSleepMs?: number): Promise<boolean> {
  const qmp = context.srcQmp;
  if (!qmp) return false;
  const accepted = runner.settings.postcopy || runner.settings.paused;
  const estimate = recordSwitchover(context, {
    ...estimateSwitchover({
      // The link as steering planned with (see LinkRate); before any look, QEMU's average since the start.
      ...switchoverBasis(context, runner, throughput),
      // What the disks' mirrors still hold goes over the same link in the same pause.
      remainingBytes: (info.ram?.remaining ?? 0) + diskRemainingBytes,
      // The stream still in the sockets of a destination that lags (the source's guard's count, or its guard's word).
      inFlight,
      waitedMs: performance.now() - seenAt,
      roundTripMs: Math.max(0, ...roundTrips),
    }),
    decidedBy: 'ferry',
  }, info, vcpuSleepMs);
  const figures = `${mib(estimate.remainingBytes)} MiB left at ${mib(estimate.pauseRate)} MiB/s (planned from the link's ${mib(estimate.throughput)} MiB/s)${inFlightText(estimate)} + ${estimate.overheadMs} ms overhead (QMP round trips ≤ ${Math.round(estimate.roundTripMs ?? 0)} ms) + ${Math.round(estimate.waitedMs)} ms waited ≈ ${estimate.estimateMs} ms`;
  if (accepted || estimate.fits) {
    const copy = context.storage?.copy;
    if (copy?.active && context.dstQmp) {
      // The guest is stopped: the mirrors send their last writes and end, the destination stops serving NBD.
      const finishing = performance.now();
      try {
        await copy.finishInPause(qmp, context.dstQmp, DISK_FINISH_TIMEOUT_MS);
      } catch (error) {
        throw migrationError(context, 'DISK_COPY_FAILED', 'unknown', error instanceof Error ? error.message : String(error), error);
      }
      log(context, 'info', `disk mirrors finished in the pause (${Math.round(performance.now() - finishing)} ms)`);
    }
    await qmp.execute('migrate-continue', { state: 'pre-switchover' });
    enterStage(context, 'switching-over');
    log(context, 'info', `switchover: ${figures}${accepted ? ` (${runner.settings.postcopy ? 'post-copy' : 'pause'} already accepted)` : ` fits maxDowntime ${estimate.maxDowntimeMs} ms`}`);
    return true;
  }
  const sample = { ...before, elapsedMs: Math.round(performance.now() - context.startedAt) };
  emitAction(context, runner.applied({ type: 'cancel', reason: `downtime guarantee: the switchover would pause the guest ${figures}, over maxDowntime ${estimate.maxDowntimeMs} ms` }, sample));
  await qmp.execute('migrate_cancel');
  return false;
}

async function applyAction(context: MigrationContext, runner: PolicyRunner, action: ConvergenceAction, sample: ConvergenceSample): Promise<'applied' | 'cancelled'> {
  const qmp = context.srcQmp;
  if (!qmp) return 'applied';
  switch (action.type) {
    case 'downtime-limit':
      break; // steerSwitchover turns the new target into QEMU's limit on the next look
    case 'throttle':
      await qmp.execute('migrate-set-parameters', throttleParameters(action.percent));
      break;
    case 'bandwidth':
      await qmp.execute('migrate-set-parameters', { 'max-bandwidth': action.bytesPerSecond === 'unlimited' ? parametersFor({ ...context.options, bandwidth: 'unlimited' }, 'source')['max-bandwidth'] ?? 0 : Math.round(action.bytesPerSecond) });
      break;
    case 'postcopy':
      await qmp.execute('migrate-start-postcopy');
      break;
    case 'pause':
      await qmp.execute('stop');
      break;
    case 'cancel':
      await qmp.execute('migrate_cancel');
      break;
  }
  emitAction(context, runner.applied(action, sample));
  return action.type === 'cancel' ? 'cancelled' : 'applied';
}

function emitAction(context: MigrationContext, record: ConvergenceActionRecord): void {
  context.events.emit('action', record);
  log(context, 'info', `pass ${record.pass}: ${record.action}: ${record.reason}`);
}

/**
 * Keeps QEMU's own switchover threshold at ferry's allowance for the
 * current target (the policy's downtime limit, within maxDowntime): on QEMU
 * 8.2+ with the rate ferry plans the pause with as QEMU's switchover
 * bandwidth, before it with the limit planned from the most QEMU's bandwidth
 * has read (its threshold may use that at the decision). The link's rate
 * moves, so the settings are made again whenever one drifts by a fifth.
 */
async function steerSwitchover(context: MigrationContext, runner: PolicyRunner, info: MigrationInfo, link: LinkRate, current: QemuSteering): Promise<QemuSteering> {
  const qmp = context.srcQmp;
  if (!qmp) return current;
  const wanted = qemuSteeringFor(runner.settings.downtimeLimitMs, link.planning, link.qemuPeak, capOf(runner).capBytesPerSecond, pauseCostMs(context), current.availSwitchoverBandwidth !== undefined);
  const drifted = (now: number, next: number, least: number) => Math.abs(next - now) > Math.max(least, now * 0.2);
  const bandwidthDrifted = wanted.availSwitchoverBandwidth !== undefined && drifted(current.availSwitchoverBandwidth ?? 0, wanted.availSwitchoverBandwidth, 0);
  if (!drifted(current.downtimeLimitMs, wanted.downtimeLimitMs, 1) && !bandwidthDrifted) return current;
  // Both in one command: QEMU never sees the new limit with the old bandwidth.
  await qmp.execute('migrate-set-parameters', { 'downtime-limit': wanted.downtimeLimitMs, ...(wanted.availSwitchoverBandwidth !== undefined && { 'avail-switchover-bandwidth': wanted.availSwitchoverBandwidth }) });
  const how = wanted.availSwitchoverBandwidth ? `switchover bandwidth ${mib(wanted.availSwitchoverBandwidth)} MiB/s` : `its bandwidth up to ${mib(link.qemuPeak)} MiB/s, now ${mib(qemuBandwidth(info))}`;
  log(context, 'debug', `QEMU downtime-limit ${wanted.downtimeLimitMs} ms (${how}; the link ${mib(link.planning)} MiB/s)`);
  return wanted;
}

/**
 * What the pause costs beyond sending RAM: the switchover's fixed cost on
 * these hosts, and the disk mirrors' finish when disks are copied. (A
 * throttled vCPU's sleep is not planned for: one under way ends when the
 * guest stops; one that starts just after the stop is QEMU's rare defect,
 * throttle-steps.ts, reported as result.downtimeOverrun.)
 */
function pauseCostMs(context: MigrationContext): number {
  return switchoverPauseCostMs(context.options.switchoverCost, context.storage?.copy.active === true);
}

/** The bandwidth cap in force, if any (the policy may have changed it). */
function capOf(runner: PolicyRunner): { capBytesPerSecond?: number } {
  const cap = runner.settings.bandwidth;
  return cap === 'unlimited' ? {} : { capBytesPerSecond: cap };
}

/** QEMU's bandwidth over its last 100 ms iteration, bytes/s (what its threshold uses). */
function qemuBandwidth(info: MigrationInfo | undefined): number {
  return ((info?.ram?.mbps ?? 0) * 1e6) / 8;
}

/** Post-copy began: the destination, started with -S, waits paused; it owns the guest now. */
async function resumeDestination(context: MigrationContext): Promise<boolean> {
  const qmp = context.dstQmp;
  if (!qmp) return false;
  // `cont` at once (a no-op if it runs): a post-copy destination's main loop can block on a
  // missing page, so a slow answer must not stop the watch; the next look tries again.
  const resumed = await qmp.execute('cont', {}, { timeoutMs: 2000 }).then(() => true, () => false);
  if (resumed) log(context, 'info', `post-copy: the VM runs on ${context.destination.name}`);
  return resumed;
}

/** Poll fast when the end is near (or QEMU is switching over), slowly otherwise. */
function pollIntervalMs(info: MigrationInfo): number {
  const state = transferState(info.status);
  if (state === 'setting-up' || state === 'switching-over' || state === 'cancelling') return 5;
  const remaining = info.ram?.remaining ?? Number.POSITIVE_INFINITY;
  const bytesPerMs = ((info.ram?.mbps ?? 0) * 1e6) / 8 / 1000;
  if (bytesPerMs > 0 && remaining / bytesPerMs < 500) return 10;
  return 50;
}

async function actOnTimeout(context: MigrationContext, runner: PolicyRunner, timeoutMs: number, elapsed: number, sample: ConvergenceSample): Promise<CancelReason | undefined> {
  // Post-copy cannot go back: the destination owns the newest memory, and cancelling destroys the VM.
  if (context.stages.reached('postcopy')) return undefined;
  const reason = `no convergence after ${Math.round(elapsed)} ms (timeout ${timeoutMs} ms)`;
  switch (context.options.onTimeout) {
    case 'postcopy':
      if (!runner.settings.postcopy) await applyAction(context, runner, { type: 'postcopy', reason }, sample);
      return undefined;
    case 'pause':
      if (!runner.settings.paused) await applyAction(context, runner, { type: 'pause', reason }, sample);
      return undefined;
    case 'cancel':
      await applyAction(context, runner, { type: 'cancel', reason }, sample);
      return 'timeout';
  }
}

/**
 * QEMU reports `completed` a moment before it computes total-time and
 * downtime (LAB.md); until then both read 0. Ask again until they are set.
 */
export async function completedFiguresSrc(context: MigrationContext, info: MigrationInfo): Promise<MigrationInfo> {
  const qmp: QmpClient | undefined = context.srcQmp;
  let settled = info;
  for (let i = 0; i < 100 && qmp && !((settled['total-time'] ?? 0) > 0); i++) {
    await sleep(10);
    settled = await qmp.execute('query-migrate');
  }
  context.lastInfo = settled;
  return settled;
}

/** Resolves when `signal` aborts, so a cancel does not wait for the next poll; its listener goes when `until` aborts. */
function abortWake(signal: AbortSignal, alreadyHandled: boolean, until: AbortSignal): Promise<void> {
  if (signal.aborted) return alreadyHandled ? new Promise(() => {}) : Promise.resolve();
  if (alreadyHandled) return new Promise(() => {});
  return new Promise((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    until.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });
  });
}

function mib(bytes: number): string {
  return (bytes / 1024 ** 2).toFixed(1);
}

/** Bytes/s sent since the transfer began, from QEMU's own counters (0 before anything moved). */
function averageThroughput(info: MigrationInfo | undefined): number {
  const elapsedMs = info?.['total-time'] ?? 0;
  return elapsedMs > 0 ? ((info?.ram?.transferred ?? 0) / elapsedMs) * 1000 : 0;
}
