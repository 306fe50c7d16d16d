// Paths in the policy mean the policy file's directory: the same policy run from cron (another
// working directory) opens the same SQLite file, and a key file named relative to the policy is
// found from anywhere. DATABASE_URL, a command-line setting, stays relative to the working directory.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl, openDatabase } from "../../src/lib/db/index.js";
import { loadPolicy } from "../../src/lib/policy/load.js";
import { resolvePolicyPath } from "../../src/lib/policy/paths.js";
import { cliAwsEnv } from "../support/aws.js";
import { runCli } from "../support/cli.js";

let dir: string;
let policyFile: string;
const dbFile = () => path.join(dir, "conf", "data", "drop.db");

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-paths-"));
  for (const d of ["conf/data", "ops", "cron/deep"]) mkdirSync(path.join(dir, d), { recursive: true });
  policyFile = path.join(dir, "conf", "policy.yaml");
  writeFileSync(
    policyFile,
    ["version: 1", "inventory:", "  - { name: k1, kind: kms-key, rotation: annual }", "database:", "  url: sqlite:data/drop.db", "approvals:", "  shred-user: { roles: [dpo] }", "keyFiles:", "  someone: keys/id_ed25519", ""].join("\n"),
  );
  const db = await openDatabase(`sqlite:${dbFile()}`, { create: true });
  await db.execute("CREATE TABLE users (id TEXT PRIMARY KEY, national_id TEXT)");
  await db.execute("INSERT INTO users (id, national_id) VALUES ('4711', NULL)");
  await db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("paths in the policy", () => {
  it("the same policy from two working directories opens the same SQLite file", async () => {
    for (const cwd of [path.join(dir, "ops"), path.join(dir, "cron", "deep")]) {
      // User 4711 is already erased in conf/data/drop.db: found there, nothing to do, no approval needed.
      const r = await runCli(["shred-user", "4711", "--reason", "DSR-1", "--policy", path.relative(cwd, policyFile), "--journal", path.join(dir, "legal"), "--json"], {
        cwd,
        env: { ...cliAwsEnv, DATABASE_URL: "" },
      });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout) as { status: string; alreadyErased: string[]; facts: string[] };
      expect(doc).toMatchObject({ status: "noop", alreadyErased: ["4711"] });
      expect(doc.facts[0]).toContain(`sqlite:${dbFile()}`);
    }
  });

  it("resolves sqlite: and key-file paths against the policy file's directory, ~/ against home", () => {
    for (const cwd of [path.join(dir, "ops"), dir]) {
      const { policy } = loadPolicy(policyFile, cwd);
      expect(databaseUrl(policy)).toBe(`sqlite:${dbFile()}`);
      expect(resolvePolicyPath(policy, policy.keyFiles!.someone!)).toBe(path.join(dir, "conf", "keys", "id_ed25519"));
      expect(resolvePolicyPath(policy, "~/.ssh/id_ed25519")).toMatch(/\/\.ssh\/id_ed25519$/);
      // A copy of the policy object (as approval contexts make) keeps its directory.
      expect(databaseUrl({ ...policy })).toBe(`sqlite:${dbFile()}`);
    }
  });

  it("DATABASE_URL stays relative to the working directory", async () => {
    const bare = path.join(dir, "bare.yaml");
    writeFileSync(bare, "version: 1\ninventory:\n  - { name: k1, kind: kms-key, rotation: annual }\napprovals:\n  shred-user: { roles: [dpo] }\n");
    const cwd = path.join(dir, "ops");
    const r = await runCli(["shred-user", "4711", "--reason", "DSR-1", "--policy", bare, "--journal", path.join(dir, "legal")], { cwd, env: { ...cliAwsEnv, DATABASE_URL: "sqlite:data/drop.db" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the SQLite database ${path.join(cwd, "data", "drop.db")} does not exist`);
  });
});
