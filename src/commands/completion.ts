import { Argument, type Command } from "commander";
import { examples } from "../lib/cli-options.js";

export function register(command: Command): void {
  command
    .description("Print the shell completion script (commands, flags, inventory names, incident ids; no AWS call)")
    .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(["bash", "zsh", "fish"]))
    .action(async (shell: "bash" | "zsh" | "fish") => {
      const { completionScript } = await import("../lib/completion/scripts.js");
      process.stdout.write(completionScript(shell));
    });
  examples(
    command,
    "source <(dropkeys completion bash)                                  # in ~/.bashrc",
    "source <(dropkeys completion zsh)                                   # in ~/.zshrc, after compinit",
    "dropkeys completion fish > ~/.config/fish/completions/dropkeys.fish",
  );
}
