// A test world for the key lifecycle commands: a directory, the demo approvers (real SSH keys),
// a policy with the bundled approval rules and the given inventory, a sealed registry, and
// helpers that run the CLI plainly or with every approver's signature.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { approverEntries, makeSshApprover, runApproved, sealRegistry, type TestApprover } from "../support/approvers.js";
import { cliAwsEnv } from "../support/aws.js";
import { runCli, type CliResult } from "../support/cli.js";
import { writePolicy } from "../support/policy.js";

export const bundledApprovals = (parse(readFileSync("policy/drop.policy.yaml", "utf8")) as { approvals: Record<string, unknown> }).approvals;

export interface World {
  dir: string;
  policyFile: string;
  journalDir: string;
  alem: TestApprover;
  alice: TestApprover;
  lena: TestApprover;
  /** Every CLI result of this world, for the leak scan. */
  results: CliResult[];
  cli(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  approved(args: string[], approvers?: TestApprover[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  journal(): Record<string, unknown>[];
}

export async function makeWorld(prefix: string, policy: Record<string, unknown>): Promise<World> {
  const dir = mkdtempSync(path.join(tmpdir(), `dropkeys-${prefix}-`));
  const alem = makeSshApprover(dir, "alem", ["CISO", "security-lead"]);
  const alice = makeSshApprover(dir, "alice", ["drop-key-admin", "dpo"]);
  const lena = makeSshApprover(dir, "lena", ["legal", "system-owner"]);
  const policyFile = writePolicy(dir, {
    roles: { "drop-key-admin": { principals: ["arn:aws:iam::123456789012:role/drop-key-admin"] }, "drop-app-runner": { principals: ["arn:aws:iam::123456789012:role/drop-app-runner"] }, "drop-compliance-decrypt": { principals: [] }, "drop-app-encrypt": { principals: ["arn:aws:iam::123456789012:role/drop-app-encrypt"] } },
    approvals: bundledApprovals,
    approvers: approverEntries([alem, alice, lena]),
    ...policy,
  });
  const journalDir = path.join(dir, "legal");
  const results: CliResult[] = [];
  const globals = ["--policy", policyFile, "--journal", journalDir];
  const world: World = {
    dir,
    policyFile,
    journalDir,
    alem,
    alice,
    lena,
    results,
    async cli(args, env) {
      const r = await runCli([...args, ...globals], { env: { ...cliAwsEnv, ...env }, cwd: dir });
      results.push(r);
      return r;
    },
    async approved(args, approvers = [alem, alice], env) {
      const r = await runApproved(args, { policyFile, journalDir, approvers, env: { ...cliAwsEnv, ...env }, cwd: dir });
      results.push(r);
      return r;
    },
    journal() {
      return readFileSync(path.join(journalDir, "internkontroll.jsonl"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
  await sealRegistry({ policyFile, journalDir, approvers: [alem, alice, lena], env: cliAwsEnv });
  return world;
}

export const kmsEntry = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  kind: "kms-key",
  rotation: "annual",
  rotationMode: "automatic",
  classification: "L4",
  owner: "security",
  purpose: `test key ${name}`,
  decryptRoles: ["drop-app-runner"],
  encryptRoles: ["drop-app-encrypt"],
  ...extra,
});
