// Shell completion, run in the real shells: the script `dropkeys completion bash` prints is
// sourced into bash, COMP_WORDS / COMP_CWORD are set as readline would, and COMPREPLY is read
// back; zsh runs its script with compadd / _files standing in for the completion system
// (only inside a completion widget are they real); fish completes for real with `complete -C`.
// Candidates come from the built CLI on PATH.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Journal } from "../../src/lib/journal/journal.js";
import { BIN, runCli } from "../support/cli.js";

let dir: string;
let env: NodeJS.ProcessEnv;
const zsh = spawnSync("zsh", ["--version"]).status === 0;
const fish = spawnSync("fish", ["--version"]).status === 0;
const actor = { aws: "arn:aws:iam::123456789012:user/t", osUser: "t", host: "h" };

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-completion-"));
  const policy = path.join(dir, "team.policy.yaml");
  writeFileSync(
    policy,
    [
      "version: 1",
      "inventory:",
      "  - { name: drop-kyc-key, kind: kms-key, rotation: annual }",
      "  - { name: drop-backup-key, kind: kms-key, rotation: annual, region: eu-west-1 }",
      "  - { name: JWT_SECRET, kind: secret, rotation: quarterly }",
      "approvers:",
      "  - { name: alem, email: a@drop.example, roles: [CISO], ssh: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a' }",
      "",
    ].join("\n"),
  );
  writeFileSync(path.join(dir, "other.yaml"), "version: 1\ninventory:\n  - { name: other-key, kind: kms-key, rotation: annual }\n");
  const journal = new Journal(path.join(dir, "legal"));
  journal.append({ type: "event", operation: "disable", actor, reason: "r", incident: "INC-20261123-1405" });
  journal.append({ type: "event", operation: "audit-decrypts", actor, reason: "r" });
  journal.append({ type: "event", operation: "disable", actor, reason: "r", incident: "INC-20261201-0900" });
  mkdirSync(path.join(dir, "requests"));
  writeFileSync(path.join(dir, "requests", "req-1.json"), "{}");
  // `dropkeys` on PATH is the built CLI, as after `npm install -g`.
  const bin = path.join(dir, "bin");
  mkdirSync(bin);
  writeFileSync(path.join(bin, "dropkeys"), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
  env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, DROPKEYS_POLICY: policy, DROPKEYS_JOURNAL: path.join(dir, "legal"), HOME: dir };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function script(shell: string): Promise<string> {
  const r = await runCli(["completion", shell]);
  expect(r.code).toBe(0);
  const file = path.join(dir, `completion.${shell}`);
  writeFileSync(file, r.stdout);
  return file;
}

/** What bash offers for `dropkeys WORDS...` with the cursor at the end of the last word. */
function bashComplete(file: string, words: string[]): string[] {
  const line = ["dropkeys", ...words];
  const program = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _dropkeys; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = execFileSync("bash", ["-c", program, "bash", file, ...line], { env, cwd: dir, encoding: "utf8" });
  return out.split("\n").filter((l) => l !== "");
}

describe("bash completion", () => {
  let file: string;
  beforeAll(async () => {
    file = await script("bash");
  });

  it("completes command names by prefix", () => {
    expect(bashComplete(file, ["dis"])).toEqual(["disable"]);
    expect(bashComplete(file, ["d"]).sort()).toEqual(["disable", "doctor"]);
    expect(bashComplete(file, [""])).toEqual(expect.arrayContaining(["status", "doctor", "completion", "incident", "shred-user"]));
  });

  it("completes subcommands and the flags of the command being typed, global ones included", () => {
    expect(bashComplete(file, ["log", ""]).sort()).toEqual(["show", "verify"]);
    expect(bashComplete(file, ["disable", "drop-kyc-key", "--inc"])).toEqual(["--incident"]);
    expect(bashComplete(file, ["schedule-deletion", "drop-kyc-key", "--d"]).sort()).toEqual(["--days", "--dry-run"]);
    expect(bashComplete(file, ["status", "--po"])).toEqual(["--policy"]);
  });

  it("completes inventory names from the policy (DROPKEYS_POLICY, or the --policy on the line)", () => {
    expect(bashComplete(file, ["disable", "drop-"]).sort()).toEqual(["drop-backup-key", "drop-kyc-key"]);
    expect(bashComplete(file, ["rotate-jwt", "J"])).toEqual(["JWT_SECRET"]);
    expect(bashComplete(file, ["audit-decrypts", "--key", ""])).toEqual(expect.arrayContaining(["drop-kyc-key", "JWT_SECRET"]));
    expect(bashComplete(file, ["disable", "--policy", "other.yaml", ""])).toEqual(["other-key"]);
    expect(bashComplete(file, ["approve", "r.json", "--as", ""])).toEqual(["alem"]);
  });

  it("completes incident ids from the journal, newest first", () => {
    expect(bashComplete(file, ["incident", "show", "INC-"])).toEqual(["INC-20261201-0900", "INC-20261123-1405"]);
    expect(bashComplete(file, ["disable", "drop-kyc-key", "--incident", "INC-202611"])).toEqual(["INC-20261123-1405"]);
  });

  it("completes file names where a file is expected", () => {
    expect(bashComplete(file, ["apply", "requests/"])).toEqual(["requests/req-1.json"]);
    expect(bashComplete(file, ["status", "--policy", "oth"])).toEqual(["other.yaml"]);
  });

  it("answers without the AWS SDK", async () => {
    const trace = path.join(dir, "imports.txt");
    writeFileSync(trace, "");
    const r = await runCli(["__complete", "disable", "--incident", ""], {
      nodeArgs: ["--import", path.resolve("test/support/trace-imports.mjs")],
      env: { DROPKEYS_TRACE_IMPORTS: trace, DROPKEYS_POLICY: env.DROPKEYS_POLICY, DROPKEYS_JOURNAL: env.DROPKEYS_JOURNAL },
    });
    expect(r.stdout.split("\n")).toContain("INC-20261123-1405");
    expect(readFileSync(trace, "utf8")).not.toMatch(/@aws-sdk/);
  });

  it("is not a listed command, and a broken line gets no candidates rather than an error", async () => {
    expect((await runCli(["--help"])).stdout).not.toContain("__complete");
    const r = await runCli(["__complete", "no-such-command", ""]);
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect((await runCli(["completion", "tcsh"])).code).toBe(2);
  });
});

describe.skipIf(!zsh)(zsh ? "zsh completion" : "zsh completion (SKIPPED: zsh is not installed on this machine)", () => {
  /** Runs the zsh script's function with compadd and _files recording what they were given. */
  function zshComplete(file: string, words: string[]): string[] {
    const program = [
      "compdef() { :; }",
      "compadd() { [[ $1 == -a ]] && print -l -- \"${(@P)2}\"; }",
      "_files() { print -- '<files>'; }",
      'source "$1"; shift',
      'words=("$@"); CURRENT=$#',
      "_dropkeys",
    ].join("\n");
    const out = execFileSync("zsh", ["-f", "-c", program, "zsh", file, "dropkeys", ...words], { env, cwd: dir, encoding: "utf8" });
    return out.split("\n").filter((l) => l !== "");
  }

  it("hands the words to dropkeys and the candidates to compadd, or _files", async () => {
    const file = await script("zsh");
    expect(zshComplete(file, [""])).toEqual(expect.arrayContaining(["disable", "doctor", "status"]));
    expect(zshComplete(file, ["disable", ""])).toEqual(["drop-kyc-key", "drop-backup-key", "JWT_SECRET"]);
    expect(zshComplete(file, ["incident", "show", ""])).toEqual(["INC-20261201-0900", "INC-20261123-1405"]);
    expect(zshComplete(file, ["apply", ""])).toEqual(["<files>"]);
  });
});

describe.skipIf(!fish)(fish ? "fish completion" : "fish completion (SKIPPED: fish is not installed on this machine)", () => {
  it("completes commands, inventory names, incident ids and files through `complete -C`", async () => {
    const file = await script("fish");
    const fishComplete = (line: string) =>
      execFileSync("fish", ["--no-config", "-c", 'source $argv[1]; complete -C $argv[2]', file, line], { env, cwd: dir, encoding: "utf8" })
        .split("\n")
        .filter((l) => l !== "");
    expect(fishComplete("dropkeys dis")).toEqual(["disable"]);
    expect(fishComplete("dropkeys disable drop-k")).toEqual(["drop-kyc-key"]);
    expect(fishComplete("dropkeys incident show INC-2026112")).toEqual(["INC-20261123-1405"]);
    expect(fishComplete("dropkeys apply requests/")).toEqual(["requests/req-1.json"]);
  });
});

if (!fish) console.warn("completion.test.ts: fish is not installed, so the fish script is not exercised (bash always is)");
if (!zsh) console.warn("completion.test.ts: zsh is not installed, so the zsh script is not exercised (bash always is)");
