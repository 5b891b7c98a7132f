// `dynamicfs completion bash`: a bash completion script made from the
// command definitions themselves (so it never falls behind them). zsh users
// load it through bashcompinit.
import type { Command } from 'commander';
import { DfsError } from '../errors.js';

function optionsOf(command: Command): string[] {
  return command.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => Boolean(f));
}

export function bashCompletion(program: Command): string {
  const commands = program.commands.map((c) => c.name());
  const global = optionsOf(program);
  const cases = program.commands.map((c) => `    ${c.name()}) opts="${[...optionsOf(c), '--help'].join(' ')}" ;;`).join('\n');
  return `# bash completion for dynamicfs. Load it with
#   source <(dynamicfs completion bash)
# or save it as /etc/bash_completion.d/dynamicfs. In zsh: autoload -U bashcompinit && bashcompinit first.
_dynamicfs() {
  local cur command i opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  command=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      --pool|--log-level) ((i++)) ;;
      -*) ;;
      *) command="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  if [ -z "$command" ]; then
    COMPREPLY=( $(compgen -W "${commands.join(' ')} ${global.join(' ')}" -- "$cur") )
    return
  fi
  case "$command" in
${cases}
    *) opts="" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts ${global.join(' ')}" -- "$cur") )
}
complete -o default -F _dynamicfs dynamicfs
`;
}

export function registerCompletionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash; zsh through bashcompinit)')
    .argument('[shell]', 'bash', 'bash')
    .action((shell: string) => {
      if (shell !== 'bash') throw new DfsError('DFS_ERR_CLI_USAGE', `no completion for "${shell}" (bash is supported; zsh loads it through bashcompinit)`);
      process.stdout.write(bashCompletion(program));
    });
}
