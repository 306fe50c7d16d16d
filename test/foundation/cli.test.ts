import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-cli-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the dropkeys command", () => {
  it("lists its commands with examples and exit codes", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    for (const name of ["status", "log", "policy", "init"]) expect(r.stdout).toMatch(new RegExp(`^  ${name} `, "m"));
    expect(r.stdout).toContain("Examples:");
    expect(r.stdout).toContain("5 journal unavailable");
  });

  it("shows every global option and an example in each command's help", async () => {
    const r = await runCli(["status", "--help"]);
    expect(r.code).toBe(0);
    for (const option of ["--policy", "--journal", "--region", "--profile", "--endpoint-url", "--json", "--no-color", "--no-input", "--verbose", "--at"]) {
      expect(r.stdout).toContain(option);
    }
    expect(r.stdout).toMatch(/Examples:\n {2}\$ dropkeys status/);
    const log = await runCli(["log", "verify", "--help"]);
    expect(log.stdout).toContain("--journal");
    expect(log.stdout).toContain("$ dropkeys log verify");
  });

  it("loads no AWS SDK for --help, a command's --help, or --version", async () => {
    for (const args of [["--help"], ["status", "--help"], ["--version"]]) {
      const trace = path.join(dir, `imports-${args.join("")}.txt`);
      writeFileSync(trace, "");
      const r = await runCli(args, { nodeArgs: ["--import", path.resolve("test/support/trace-imports.mjs")], env: { DROPKEYS_TRACE_IMPORTS: trace } });
      expect(r.code).toBe(0);
      const imported = readFileSync(trace, "utf8");
      expect(imported).toContain("commander");
      expect(imported).not.toMatch(/@aws-sdk/);
    }
  });

  it("prints the version", async () => {
    const r = await runCli(["--version"]);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
  });

  it("answers a usage error with exit 2", async () => {
    expect((await runCli(["frobnicate"])).code).toBe(2);
    expect((await runCli(["status", "--bogus"])).code).toBe(2);
  });

  it("explains a bad policy file with exit 2, the YAML path, and no stack trace", async () => {
    const bad = path.join(dir, "bad.yaml");
    writeFileSync(bad, "version: 1\ninventory:\n  - { name: k, kind: kms-key, rotation: weekly }\n");
    const r = await runCli(["policy", "check", "--policy", bad]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('inventory[0].rotation: expected "annual", "quarterly"');
    expect(r.stderr).toContain("hint:");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("writes errors as JSON on stderr under --json, keeping stdout clean", async () => {
    const r = await runCli(["policy", "check", "--policy", path.join(dir, "missing.yaml"), "--json"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const error = JSON.parse(r.stderr);
    expect(error.error).toMatchObject({ kind: "usage", code: "policy.unreadable" });
  });

  it("validates and summarises the bundled policy, as JSON too", async () => {
    const r = await runCli(["policy", "check", "--json"], { cwd: dir });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.source).toBe("bundled");
    expect(doc.inventory.find((e: { name: string }) => e.name === "drop-backup-key").region).toBe("eu-west-1");
  });

  it("init writes a starter policy and refuses to overwrite it without --force", async () => {
    const first = await runCli(["init"], { cwd: dir });
    expect(first.code).toBe(0);
    expect(readFileSync(path.join(dir, "dropkeys.policy.yaml"), "utf8")).toContain("drop-national-id-key");
    const second = await runCli(["init"], { cwd: dir });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain("--force");
    expect((await runCli(["init", "--force"], { cwd: dir })).code).toBe(0);
    // The local file is now the default policy.
    const check = await runCli(["policy", "check", "--json"], { cwd: dir });
    expect(JSON.parse(check.stdout).source).toBe("local");
  });

  it("log verify: exit 0 on an intact journal, 1 naming the bad line", async () => {
    const journalDir = path.join(dir, "legal");
    const { Journal } = await import("../../src/lib/journal/journal.js");
    const journal = new Journal(journalDir);
    for (let i = 0; i < 3; i++) journal.append({ type: "event", operation: "test", actor: { aws: "a", osUser: "u", host: "h" }, reason: `r${i}` });
    const ok = await runCli(["log", "verify", "--journal", journalDir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("intact: 3 entries");
    const file = path.join(journalDir, "internkontroll.jsonl");
    writeFileSync(file, readFileSync(file, "utf8").replace('"r1"', '"r9"'));
    const bad = await runCli(["log", "verify", "--journal", journalDir, "--json"]);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).problems[0]).toMatchObject({ line: 2, kind: "edited" });
    const shown = await runCli(["log", "show", "--journal", journalDir, "--json"]);
    expect(JSON.parse(shown.stdout).entries).toHaveLength(3);
  });
});
