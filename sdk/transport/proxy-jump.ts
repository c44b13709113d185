import { SshConfigError } from './transport-errors.ts';

/**
 * A ProxyJump value as targets ferry reads (`user@host:port`), in the order the
 * connection passes through them. `none` is no jump. `ssh://user@host:port`
 * URIs are accepted as OpenSSH accepts them.
 *
 * @example
 * parseProxyJump('bastion,ops@inner:2222') // => ['bastion', 'ops@inner:2222']
 */
export function parseProxyJump(value: string): string[] {
  if (value === 'none') return [];
  return value.split(',').map((hop) => {
    const target = hop.trim().replace(/^ssh:\/\//, '').replace(/\/$/, '');
    if (target === '' || /[\s/]/.test(target)) throw new SshConfigError(value, `cannot read the ProxyJump hop "${hop}" (expected [user@]host[:port], comma-separated)`);
    return target;
  });
}
