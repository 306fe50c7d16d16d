// A command in a real pseudo-terminal (util-linux `script`), driven like a person: wait for a
// prompt, type an answer. CI is unset so dropkeys sees a terminal and may prompt.
import { spawn } from "node:child_process";
import { cliAwsEnv } from "../support/aws.js";
import { BIN } from "../support/cli.js";

// eslint-disable-next-line no-control-regex
const strip = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");

export function inTerminal(args: string[], env: NodeJS.ProcessEnv) {
  const clean: NodeJS.ProcessEnv = { ...process.env, ...cliAwsEnv, ...env, TERM: "xterm-256color" };
  delete clean.CI;
  delete clean.SSH_AUTH_SOCK;
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { env: clean, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  let seen = 0;
  return {
    get output() {
      return strip(output);
    },
    /** Wait until `text` appears after what was matched before. */
    async waitFor(text: string, timeoutMs = 15_000): Promise<void> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const at = strip(output).indexOf(text, seen);
        if (at >= 0) {
          seen = at + text.length;
          return;
        }
        if (Date.now() > until) throw new Error(`timed out waiting for ${JSON.stringify(text)}; output so far:\n${strip(output)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    type(keys: string): void {
      child.stdin.write(keys);
    },
    exit,
    kill: () => child.kill("SIGKILL"),
  };
}

