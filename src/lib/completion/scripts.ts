// The completion scripts `dropkeys completion bash|zsh|fish` prints. Each asks
// `dropkeys __complete WORD... CURRENT` for candidates (one per line; ":files" for file names)
// and leaves filtering by the typed prefix to the shell.
export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

const bash = `# dropkeys completion for bash. Load it from ~/.bashrc:
#   source <(dropkeys completion bash)
_dropkeys() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" out
  local IFS=$'\\n'
  out=$(dropkeys __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  if [[ "$out" == ":files" ]]; then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
  fi
}
complete -F _dropkeys dropkeys
`;

const zsh = `#compdef dropkeys
# dropkeys completion for zsh. Either load it from ~/.zshrc (after compinit):
#   source <(dropkeys completion zsh)
# or save it as _dropkeys in a directory of $fpath.
_dropkeys() {
  local -a candidates
  candidates=("\${(@f)$(dropkeys __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  candidates=(\${candidates:#})
  if [[ "\${candidates[1]}" == ":files" ]]; then
    _files
  else
    compadd -a candidates
  fi
}
if [[ "\${funcstack[1]}" == "_dropkeys" ]]; then
  _dropkeys "$@"
else
  compdef _dropkeys dropkeys
fi
`;

const fish = `# dropkeys completion for fish. Save it as ~/.config/fish/completions/dropkeys.fish:
#   dropkeys completion fish > ~/.config/fish/completions/dropkeys.fish
function __dropkeys_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out (dropkeys __complete $words[2..-1] 2>/dev/null)
    if test "$out[1]" = ":files"
        __fish_complete_path (commandline -ct)
    else
        printf '%s\\n' $out
    end
end
complete -c dropkeys -f -a '(__dropkeys_complete)'
`;

export function completionScript(shell: Shell): string {
  return { bash, zsh, fish }[shell];
}
