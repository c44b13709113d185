import { readFile, stat } from 'node:fs/promises';
// @ts-types="npm:@types/ssh2@^1.15.5"
import ssh2 from 'ssh2';
// @ts-types="npm:@types/ssh2@^1.15.5"
import type { AnyAuthMethod, AuthHandlerMiddleware, BaseAgent, ParsedKey, SignCallback, SigningRequestOptions } from 'ssh2';
import type { SshSettings } from './ssh-settings.ts';

/** The authentication attempts for one connection, in order, each with a description for errors. */
export interface AuthPlan {
  attempts: { method: AnyAuthMethod; description: string }[];
  /** Identities that could not be tried, and why ("…: encrypted, no passphrase"). */
  skipped: string[];
}

/**
 * The ssh-agent (if any) first, then each identity file that exists and can be read
 * without a passphrase; an encrypted key is skipped with a note (load it into the agent).
 *
 * @example
 * const plan = await planAuthentication(settings);
 */
export async function planAuthentication(settings: SshSettings): Promise<AuthPlan> {
  const plan: AuthPlan = { attempts: [], skipped: [] };
  const keys: { path: string; key: ParsedKey; data: Buffer }[] = [];
  for (const { path, explicit } of settings.identityFiles) {
    const data = await readFile(path).catch((error: NodeJS.ErrnoException) => error);
    if (data instanceof Error) {
      if (explicit || data.code !== 'ENOENT') plan.skipped.push(`identity file ${path}: ${data.code === 'ENOENT' ? 'not found' : data.message}`);
      continue;
    }
    const key = ssh2.utils.parseKey(data);
    if (key instanceof Error) {
      const encrypted = /encrypted|passphrase/i.test(key.message);
      plan.skipped.push(`identity file ${path}: ${encrypted ? 'encrypted and no passphrase given (add it to ssh-agent with ssh-add)' : key.message}`);
      continue;
    }
    keys.push({ path, key, data });
  }
  const agent = await agentFor(settings, keys.map((k) => k.key), plan.skipped);
  if (agent) plan.attempts.push({ method: { type: 'agent', username: settings.user, agent }, description: `ssh-agent at ${settings.agent}${settings.identitiesOnly ? ' (IdentitiesOnly: only keys matching the identity files)' : ''}` });
  for (const { path, key, data } of keys) {
    plan.attempts.push({ method: { type: 'publickey', username: settings.user, key: data }, description: `identity file ${path} (${key.type})` });
  }
  return plan;
}

async function agentFor(settings: SshSettings, identities: ParsedKey[], skipped: string[]): Promise<BaseAgent | undefined> {
  const path = settings.agent;
  if (path === undefined) return undefined;
  const info = await stat(path).catch(() => undefined);
  if (!info?.isSocket()) {
    skipped.push(`ssh-agent at ${path}: no such socket`);
    return undefined;
  }
  const agent = new ssh2.OpenSSHAgent(path);
  return settings.identitiesOnly ? new FilteredAgent(agent, identities) : agent;
}

/** IdentitiesOnly: an agent that offers only the keys whose public half matches an identity file. */
class FilteredAgent extends ssh2.BaseAgent<ParsedKey> {
  readonly #inner: InstanceType<typeof ssh2.OpenSSHAgent>;
  readonly #allowed: Buffer[];

  constructor(inner: InstanceType<typeof ssh2.OpenSSHAgent>, identities: readonly ParsedKey[]) {
    super();
    this.#inner = inner;
    this.#allowed = identities.map((key) => key.getPublicSSH());
  }

  getIdentities(cb: (err?: Error | null, keys?: ParsedKey[]) => void): void {
    this.#inner.getIdentities((err, keys) => {
      const parsed = (keys ?? []).filter((key): key is ParsedKey => 'getPublicSSH' in key);
      cb(err, parsed.filter((key) => this.#allowed.some((blob) => blob.equals(key.getPublicSSH()))));
    });
  }

  sign(pubKey: ParsedKey, data: Buffer, options: SigningRequestOptions | SignCallback, cb?: SignCallback): void {
    if (typeof options === 'function') this.#inner.sign(pubKey, data, {}, options);
    else this.#inner.sign(pubKey, data, options, cb);
  }
}

/**
 * An ssh2 `authHandler` that walks the plan in order and records what it tried.
 *
 * @example
 * const tried: string[] = [];
 * new ssh2.Client().connect({ authHandler: authHandlerFor(plan, tried) });
 */
export function authHandlerFor(plan: AuthPlan, tried: string[]): AuthHandlerMiddleware {
  let next = 0;
  return (_methodsLeft, _partialSuccess, callback) => {
    const attempt = plan.attempts[next++];
    if (attempt) tried.push(attempt.description);
    // ssh2 takes false for "no more methods"; its type omits that.
    callback(attempt ? attempt.method : (false as unknown as AnyAuthMethod));
  };
}
