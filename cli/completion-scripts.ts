/**
 * Shell functions that ask `ferry __complete WORDS…` for candidates, so hosts
 * and VMs come from the user's config and hosts, not from a list frozen into
 * the script. Candidates ending in `/` (a host, before its VM) take no space.
 */
export const COMPLETION_SCRIPTS = {
  bash: `# ferry completion for bash: source <(ferry completion bash), or save it in
# /etc/bash_completion.d/ferry
_ferry() {
  local IFS=$'\\n' cur=\${COMP_WORDS[COMP_CWORD]}
  local candidates
  candidates=$(ferry __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
  if [[ \${#COMPREPLY[@]} -eq 1 && \${COMPREPLY[0]} == */ ]]; then compopt -o nospace; fi
}
complete -F _ferry ferry
`,
  zsh: `#compdef ferry
# ferry completion for zsh: source <(ferry completion zsh) after compinit, or
# save it as _ferry in a directory of your $fpath
_ferry() {
  local -a candidates
  candidates=("\${(@f)$(ferry __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -S '' -- \${(M)candidates:#*/}
  compadd -- \${candidates:#*/}
}
if (( $+functions[compdef] )); then compdef _ferry ferry; fi
`,
} as const;

export type CompletionShell = keyof typeof COMPLETION_SCRIPTS;
