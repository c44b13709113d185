import { randomInt } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QmpClient } from '../qmp/index.ts';
import { log, type MigrationContext } from './migration-context.ts';

/**
 * The caller's own look at the guest once it runs on the destination (a
 * service answering, say). `true` or nothing: alive; `false` or a string
 * (the reason): not.
 */
export type GuestCheckHook = (guest: { vm: string; host: string; signal: AbortSignal }) => Promise<boolean | string | void>;

/** What ferry could tell about the guest right after the switchover, in the result. */
export interface GuestCheckReport {
  /** Every way ferry had to tell: QEMU's run state always; a pvpanic device's event; the guest agent; the caller's hook. */
  methods: Array<'run-state' | 'pvpanic' | 'guest-agent' | 'hook'>;
  ok: boolean;
  /** What was seen, for people. */
  detail: string;
  /** How long the check watched, in ms (it runs beside the source's cleanup). */
  watchedMs: number;
}

// Guests broken by a bad transfer died 0–2 s after the switchover (issue 14): watch that long.
export const DEFAULT_GUEST_CHECK_MS = 2000;
const AGENT_TIMEOUT_MS = 3000;

/**
 * After the switchover: does the guest live on the destination, as far as
 * ferry can tell? QMP says `running` for a guest whose kernel has panicked
 * unless it has a pvpanic device, so ferry uses every sign the VM offers:
 * QEMU's run state (an internal error or a panic stops it), GUEST_PANICKED
 * events within the watch window (pvpanic), a guest-agent round trip when
 * the VM has an agent channel, and the caller's hook. A VM that offers none
 * gets the run state alone, and the report says so.
 */
export async function checkGuestDst(context: MigrationContext, hook: GuestCheckHook | undefined, watchMs: number): Promise<GuestCheckReport> {
  const qmp = context.dstQmp;
  const argv = context.destinationArgv ?? [];
  const started = performance.now();
  const methods: GuestCheckReport['methods'] = ['run-state'];
  const problems: string[] = [];
  const seen: string[] = [];
  const hasPvpanic = argv.some((arg) => /^pvpanic(-pci)?(,|$)/.test(arg));
  const agentSocket = guestAgentSocket(argv);
  if (!qmp) return { methods, ok: false, detail: 'no QMP connection to the destination', watchedMs: 0 };
  const panics = qmp.events(['GUEST_PANICKED', 'SHUTDOWN', 'STOP']);
  try {
    const checks: Promise<void>[] = [];
    if (hasPvpanic) methods.push('pvpanic');
    if (agentSocket) {
      methods.push('guest-agent');
      checks.push(pingAgent(await context.destination.transport.openUnixSocket(agentSocket, { signal: context.signal })).then(
        (ms) => void seen.push(`the guest agent answered in ${Math.round(ms)} ms`),
        (error: unknown) => void problems.push(`the guest agent did not answer: ${error instanceof Error ? error.message : String(error)}`),
      ));
    }
    if (hook) {
      methods.push('hook');
      checks.push(runHook(hook, context).then((problem) => void (problem ? problems.push(problem) : seen.push('your check passed'))));
    }
    // pvpanic speaks up only when the guest dies: watch the window the crashes were seen in.
    checks.push(sleep(hasPvpanic ? watchMs : 0));
    await Promise.all(checks);
    for (;;) {
      const event = await Promise.race([panics.next(), sleep(0).then(() => undefined)]);
      if (!event || event.done) break;
      if (event.value.event === 'GUEST_PANICKED') problems.push('the guest kernel panicked (pvpanic) after the switchover');
      else if (event.value.event === 'SHUTDOWN') problems.push('the guest shut down right after the switchover');
    }
    const status = await qmp.execute('query-status', {}, { timeoutMs: 2000 }).catch(() => undefined);
    if (!status) problems.push('the destination QEMU did not answer query-status');
    else if (status.status === 'guest-panicked' || status.status === 'internal-error' || status.status === 'shutdown') problems.push(`the VM is ${status.status} on ${context.destination.name}`);
    else seen.push(`QEMU says ${status.status}`);
  } finally {
    panics.close();
  }
  const ok = problems.length === 0;
  const detail = ok ? seen.join('; ') : problems.join('; ');
  log(context, ok ? 'info' : 'warn', `guest check (${methods.join(', ')}): ${detail}`);
  return { methods, ok, detail, watchedMs: Math.round(performance.now() - started) };
}

async function runHook(hook: GuestCheckHook, context: MigrationContext): Promise<string | undefined> {
  try {
    const verdict = await hook({ vm: context.vm.name, host: context.destination.name, signal: context.signal });
    if (verdict === false) return 'your check failed';
    if (typeof verdict === 'string') return `your check failed: ${verdict}`;
    return undefined;
  } catch (error) {
    return `your check threw: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * The guest agent's socket on the destination, if the VM has one: a
 * `virtserialport` named org.qemu.guest_agent.0 on a unix socket chardev.
 */
export function guestAgentSocket(argv: readonly string[]): string | undefined {
  const chardevs = new Map<string, string>();
  let agentChardev: string | undefined;
  for (let i = 0; i < argv.length - 1; i++) {
    const option = argv[i]?.replace(/^--/, '-');
    const fields = new Map((argv[i + 1] ?? '').split(',').map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)] as const));
    const kind = (argv[i + 1] ?? '').split(',')[0];
    if (option === '-chardev' && kind === 'socket' && fields.get('id') && fields.get('path')) chardevs.set(fields.get('id') ?? '', fields.get('path') ?? '');
    if (option === '-device' && kind === 'virtserialport' && fields.get('name') === 'org.qemu.guest_agent.0') agentChardev = fields.get('chardev');
  }
  return agentChardev ? chardevs.get(agentChardev) : undefined;
}

/** One `guest-sync` round trip with the agent: it answers only if the guest runs. Returns the ms it took. */
async function pingAgent(stream: Duplex): Promise<number> {
  const started = performance.now();
  const id = randomInt(1, 2 ** 31);
  try {
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${AGENT_TIMEOUT_MS} ms`)), AGENT_TIMEOUT_MS);
      let buffer = '';
      stream.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        // Earlier clients may have left replies behind: wait for ours.
        if (buffer.includes(`"return": ${id}`) || buffer.includes(`"return":${id}`)) {
          clearTimeout(timer);
          resolve(performance.now() - started);
        }
      });
      stream.on('error', (error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
      stream.write(`${JSON.stringify({ execute: 'guest-sync', arguments: { id } })}\n`);
    });
  } finally {
    stream.destroy();
  }
}
