import type { GuardChannel } from './guard-channel.ts';

/**
 * Why a guard's session ended before ferry let it go: its QEMU went away
 * (its last words on stderr say why), or ferry lost the host.
 */
export function lostGuardMessage(guard: Pick<GuardChannel, 'host' | 'stderr' | 'qemuGone' | 'resolved'>, role: 'source' | 'destination'): string {
  const lastWords = guard.stderr.trim().split('\n').at(-1);
  if (guard.qemuGone) return `the ${role} QEMU on ${guard.host} exited mid-migration${lastWords ? ` (${lastWords})` : ''}, and its guard with it`;
  return `lost ferry's session to ${guard.host}${guard.resolved ? ` (its guard acted alone: ${guard.resolved})` : ''}`;
}
