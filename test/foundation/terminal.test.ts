// Colour only on a TTY, never under NO_COLOR or --no-color: run the CLI in a pseudo-terminal
// (util-linux `script`) and in a pipe.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const bin = path.resolve("bin/dropkeys");
const ESC = "\u001b[";

function inTerminal(args: string, env: Record<string, string> = {}): string {
  const clean = { ...process.env, ...env } as Record<string, string>;
  if (!("NO_COLOR" in env)) delete clean.NO_COLOR;
  delete clean.CI;
  const r = spawnSync("script", ["-qfec", `${process.execPath} ${bin} ${args}`, "/dev/null"], { env: { ...clean, TERM: "xterm-256color" }, encoding: "utf8" });
  return r.stdout;
}

describe("terminal output", () => {
  it("colours output on a TTY", () => {
    expect(inTerminal("policy check")).toContain(ESC);
  });
  it("honours NO_COLOR and --no-color", () => {
    expect(inTerminal("policy check", { NO_COLOR: "1" })).not.toContain(ESC);
    expect(inTerminal("policy check --no-color")).not.toContain(ESC);
  });
  it("never colours a pipe", () => {
    const env = { ...process.env };
    delete env.NO_COLOR;
    const r = spawnSync(process.execPath, [bin, "policy", "check"], { env, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain(ESC);
  });
});
