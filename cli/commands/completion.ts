import { UsageError, type CliCommand } from '../cli-command.ts';
import { COMPLETION_SCRIPTS, type CompletionShell } from '../completion-scripts.ts';
import { didYouMean } from '../did-you-mean.ts';
import { EXIT } from '../exit-codes.ts';
import { parseFlags } from '../parse-flags.ts';

const shells = Object.keys(COMPLETION_SCRIPTS) as CompletionShell[];

export const command: CliCommand = {
  name: 'completion',
  summary: 'print shell completion for bash or zsh (commands, flags, hosts and VMs)',
  usage: `ferry completion SHELL
    SHELL    bash: source <(ferry completion bash)   zsh: source <(ferry completion zsh)`,
  async run(args, io) {
    const { positionals } = parseFlags(args, {});
    const [shell, extra] = positionals;
    if (!shell) throw new UsageError(`expected a shell: ferry completion ${shells.join('|')}`);
    if (extra !== undefined) throw new UsageError(`unexpected ${JSON.stringify(extra)}`);
    if (!isShell(shell)) throw new UsageError(`no completion for ${JSON.stringify(shell)}${didYouMean(shell, shells)} (shells: ${shells.join(', ')})`);
    const script = COMPLETION_SCRIPTS[shell];
    io.stdout.write(io.json ? JSON.stringify({ ok: true, shell, script }) + '\n' : script);
    return EXIT.ok;
  },
};

function isShell(name: string): name is CompletionShell {
  return (shells as string[]).includes(name);
}
