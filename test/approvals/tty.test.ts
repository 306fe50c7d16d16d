// The approval at the terminal, in a real pseudo-terminal (util-linux `script`): dropkeys shows
// the request, asks who approves each role, and each approver signs with their key file (one of
// them passphrase-protected: ssh-keygen asks on the terminal). Ctrl-C ends with 130, nothing done.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeSshApprover, type TestApprover } from "../support/approvers.js";
import { writePolicy } from "../support/policy.js";
import { inTerminal } from "./terminal.js";

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-approvals-tty-"));
  const alem = makeSshApprover(dir, "alem", ["CISO", "security-lead"]);
  const alice = makeSshApprover(dir, "alice", ["drop-key-admin"]);
  // alice's key has a passphrase: ssh-keygen asks for it on the terminal, dropkeys never sees it.
  execFileSync("ssh-keygen", ["-q", "-p", "-P", "", "-N", "correct horse", "-f", alice.keyFile]);
  const approvers = [alem, alice].map((a: TestApprover) => ({ name: a.name, email: a.email, roles: a.roles, ssh: a.publicKey }));
  const policyFile = writePolicy(dir, { inventory: [{ name: "k1", kind: "kms-key", rotation: "annual" }], approvers, approvals: { registry: { roles: ["CISO", "*"] } } });
  const journalDir = path.join(dir, "legal");
  return { dir, alem, alice, args: ["approvers", "seal", "--reason", "first registry", "--policy", policyFile, "--journal", journalDir], journalDir };
}

describe("approval at the terminal", () => {
  it("walks each role: pick the approver, sign with a key file (passphrase asked by ssh-keygen)", async () => {
    const { alem, alice, args, journalDir } = setup();
    const t = inTerminal(args, {});
    try {
      await t.waitFor("Approval needed");
      await t.waitFor("operation:    approvers-seal");
      await t.waitFor("reason:       first registry");
      await t.waitFor("Who approves as CISO?");
      expect(t.output).toContain("alem (CISO, security-lead; SSH key)");
      t.type("\r");
      await t.waitFor("alem: private key file");
      t.type(alem.keyFile + "\r");
      await t.waitFor("alem approved as CISO");
      await t.waitFor("Who approves as any registered approver?");
      t.type("\r");
      await t.waitFor("alice: private key file");
      t.type(alice.keyFile + "\r");
      await t.waitFor("passphrase");
      t.type("correct horse\r");
      await t.waitFor("alice approved as any registered approver");
      expect(await t.exit).toBe(0);
    } finally {
      t.kill();
    }
    expect(t.output).toContain("Sealed the approvers registry: 2 approver(s)");
    expect(t.output).not.toContain("correct horse");
    const journal = readFileSync(path.join(journalDir, "internkontroll.jsonl"), "utf8");
    expect(journal).not.toContain("correct horse");
    const intent = JSON.parse(journal.split("\n")[0]!) as { approvals: { approver: string; role: string; signer: string }[] };
    expect(intent.approvals.map((a) => [a.approver, a.role, a.signer])).toEqual([
      ["alem", "CISO", "ssh"],
      ["alice", "*", "ssh"],
    ]);
  });

  it("Ctrl-C at a prompt exits 130 and does nothing", async () => {
    const { args, journalDir } = setup();
    const t = inTerminal(args, {});
    try {
      await t.waitFor("Who approves as CISO?");
      t.type("\u0003");
      expect(await t.exit).toBe(130);
    } finally {
      t.kill();
    }
    expect(existsSync(path.join(journalDir, "internkontroll.jsonl"))).toBe(false);
  });
});
