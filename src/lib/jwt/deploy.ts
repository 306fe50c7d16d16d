// Step 5: the policy's deploy command (e.g. the one that starts a rolling deploy), run through
// the shell with its output shown. Under --json its stdout goes to stderr, so stdout stays one
// JSON document. It gets the secret's name and new version id, never the value.
import { spawn } from "node:child_process";

export interface DeployResult {
  command: string;
  exitCode: number | null;
  signal: string | null;
  ok: boolean;
}

export function runDeployCommand(command: string, options: { json: boolean; secret: string; version: string }): Promise<DeployResult> {
  return new Promise((resolve) => {
    const child = spawn("/bin/sh", ["-c", command], {
      stdio: ["ignore", options.json ? 2 : 1, 2],
      env: { ...process.env, DROPKEYS_JWT_SECRET_NAME: options.secret, DROPKEYS_JWT_VERSION: options.version },
    });
    child.on("error", () => resolve({ command, exitCode: null, signal: null, ok: false }));
    child.on("close", (code, signal) => resolve({ command, exitCode: code, signal, ok: code === 0 }));
  });
}
