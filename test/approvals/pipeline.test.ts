// Approvals through the real pipeline (runOperation) with a test-only operation that is not in
// the CLI, real ssh-keygen keys and signatures, and the journal on disk: each invalid approval
// is refused with exit 3 and its own message, before anything is executed or journalled.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { reverifyJournalApprovals } from "../../src/lib/approvals/journal-check.js";
import { armor, parseArmored } from "../../src/lib/approvals/sshsig.js";
import { Context } from "../../src/lib/context.js";
import { DropkeysError } from "../../src/lib/errors.js";
import { runOperation, type OperationSpec, type PipelineFlags } from "../../src/operations/pipeline.js";
import { approverEntries, makeSshApprover, sealRegistry, signRequest, type TestApprover } from "../support/approvers.js";
import { writePolicy } from "../support/policy.js";

const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-approvals-"));
const journalDir = path.join(dir, "legal");
const inventory = [{ name: "k1", kind: "kms-key", rotation: "annual" }];
const rules = {
  registry: { roles: ["CISO", "*"] },
  "test-dual": { roles: ["drop-key-admin", "CISO"] },
  "test-match": { roles: ["CISO", "security-lead"] },
  "test-list": { roles: [["security-lead", "CISO"]] },
  "test-any": { roles: ["*", "*"] },
  "test-solo": { roles: ["drop-key-admin", "CISO"], singleCustodianException: "EXC-2026-001" },
  "test-short": { roles: ["drop-key-admin", "CISO"], requestLifetime: "2s" },
};
let alem: TestApprover, alice: TestApprover, bob: TestApprover, carol: TestApprover, rev: TestApprover, mallory: TestApprover;
let policyFile: string;

function context(policy = policyFile, journal = journalDir): Context {
  return new Context({ policy, journal, json: true, color: false, verbose: false, input: false });
}

function spec(rule: string, params: Record<string, unknown> = { name: "k1", days: 30 }) {
  const calls = { preflight: 0, execute: 0 };
  const s: OperationSpec<string> = {
    operation: "test-op",
    rule,
    target: "arn:aws:kms:eu-north-1:123456789012:key/test-k1",
    journalTarget: { name: "k1", region: "eu-north-1" },
    params,
    reason: "approval test",
    summary: "Test operation on k1 in eu-north-1",
    preflight: async () => {
      calls.preflight++;
      return { facts: ["k1 is Enabled"] };
    },
    execute: async () => {
      calls.execute++;
      return "done";
    },
  };
  return { spec: s, calls };
}

let counter = 0;
/** Write a request for `rule` with --request-out; returns its path. */
async function request(rule: string, params?: Record<string, unknown>, ctx = context()): Promise<string> {
  const file = path.join(dir, `request-${++counter}.json`);
  const r = await runOperation(ctx, spec(rule, params).spec, { requestOut: file });
  expect(r.status).toBe("requested");
  return file;
}

async function run(rule: string, flags: PipelineFlags, ctx = context(), params?: Record<string, unknown>) {
  const s = spec(rule, params);
  const result = await runOperation(ctx, s.spec, flags);
  return { result, calls: s.calls };
}

/** The DropkeysError a run throws; fails the test when it does not throw. */
async function refusal(rule: string, flags: PipelineFlags, ctx = context(), params?: Record<string, unknown>) {
  const s = spec(rule, params);
  const error = await runOperation(ctx, s.spec, flags).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DropkeysError);
  expect(s.calls.execute).toBe(0);
  return error as DropkeysError;
}

const sig = (file: string, who: TestApprover) => signRequest(file, who, `${file}.${who.name}.${++counter}.sig`);
const intents = (requestId?: string) => context().journal().entries().filter((e) => e.type === "intent" && (!requestId || e.requestId === requestId));
const requestId = (file: string) => (JSON.parse(readFileSync(file, "utf8")) as { id: string }).id;

beforeAll(async () => {
  alem = makeSshApprover(dir, "alem", ["CISO", "security-lead"]);
  alice = makeSshApprover(dir, "alice", ["drop-key-admin", "dpo"]);
  bob = makeSshApprover(dir, "bob", ["CISO"]);
  carol = makeSshApprover(dir, "carol", ["drop-key-admin", "CISO"]);
  rev = makeSshApprover(dir, "rev", ["drop-key-admin"]);
  mallory = makeSshApprover(dir, "mallory", ["drop-key-admin", "CISO"]);
  const approvers = approverEntries([alem, alice, bob, carol, rev]);
  (approvers[4] as { revoked?: boolean }).revoked = true;
  policyFile = writePolicy(dir, { inventory, approvers, approvals: rules });
  await sealRegistry({ policyFile, journalDir, approvers: [alem, alice] });
});

describe("a valid approval", () => {
  it("runs the operation with two distinct people and journals who approved, in which role, with what key", async () => {
    const file = await request("test-dual");
    const { result, calls } = await run("test-dual", { requestFile: file, approvalFiles: [sig(file, alice), sig(file, alem)] });
    expect(result.status).toBe("done");
    expect(calls.execute).toBe(1);
    const [intent] = intents(requestId(file));
    expect(intent!.approvals).toHaveLength(2);
    expect(intent!.approvals![0]).toMatchObject({ approver: "alice", role: "drop-key-admin", signer: "ssh" });
    expect(intent!.approvals![1]).toMatchObject({ approver: "alem", role: "CISO", signer: "ssh" });
    const fp = execFileSync("ssh-keygen", ["-l", "-f", `${alice.keyFile}.pub`], { encoding: "utf8" }).split(" ")[1];
    expect(intent!.approvals![0]!.fingerprint).toBe(fp);
    expect(intent!.exception).toBeUndefined();
    // The private keys never reach the journal.
    const journalText = readFileSync(path.join(journalDir, "internkontroll.jsonl"), "utf8");
    expect(journalText).not.toContain(readFileSync(alice.keyFile, "utf8").split("\n")[1]);

    const ctx = context();
    expect(await reverifyJournalApprovals(ctx, ctx.journal().entries())).toEqual([]);
    const tampered = ctx.journal().entries().map((e) => (e.requestId === requestId(file) && e.type === "intent" ? { ...e, params: { name: "k1", days: 31 } } : e));
    const problems = await reverifyJournalApprovals(ctx, tampered);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/approval by alice as drop-key-admin: the signature does not verify/);
  });

  it("solves roles as a matching, not first come: rule [CISO, security-lead], alem (CISO, security-lead) and bob (CISO)", async () => {
    for (const order of [
      [alem, bob],
      [bob, alem],
    ]) {
      const file = await request("test-match");
      const { result } = await run("test-match", { requestFile: file, approvalFiles: order.map((who) => sig(file, who)) });
      expect(result.status).toBe("done");
      const roles = Object.fromEntries(intents(requestId(file))[0]!.approvals!.map((a) => [a.approver, a.role]));
      expect(roles).toEqual({ alem: "security-lead", bob: "CISO" });
    }
  });

  it("fills a slot list with any of its roles, and '*' with any registered approver", async () => {
    let file = await request("test-list");
    await run("test-list", { requestFile: file, approvalFiles: [sig(file, bob)] });
    expect(intents(requestId(file))[0]!.approvals).toMatchObject([{ approver: "bob", role: "CISO" }]);
    file = await request("test-any");
    await run("test-any", { requestFile: file, approvalFiles: [sig(file, alice), sig(file, bob)] });
    expect(intents(requestId(file))[0]!.approvals!.map((a) => a.role)).toEqual(["*", "*"]);
  });

  it("lets one person fill every slot only under a documented exception, and journals the exception id", async () => {
    const file = await request("test-solo");
    const { result } = await run("test-solo", { requestFile: file, approvalFiles: [sig(file, carol)] });
    expect(result.status).toBe("done");
    const [intent] = intents(requestId(file));
    expect(intent!.exception).toBe("EXC-2026-001");
    expect(intent!.approvals).toMatchObject([
      { approver: "carol", role: "drop-key-admin" },
      { approver: "carol", role: "CISO" },
    ]);
  });
});

describe("refused with exit 3, nothing done", () => {
  it("a forged signature", async () => {
    const file = await request("test-dual");
    const good = sig(file, alice);
    const parsed = parseArmored(readFileSync(good, "utf8"));
    const blob = Buffer.from(parsed.blob);
    blob[blob.length - 1]! ^= 0x01; // the last byte of the Ed25519 signature
    writeFileSync(good, armor(blob));
    const e = await refusal("test-dual", { requestFile: file, approvalFiles: [good, sig(file, alem)] });
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe("approval.bad-signature");
    expect(e.message).toMatch(/the signature of alice does not verify over request .* \(forged, or made over other bytes\)/);
    expect(intents(requestId(file))).toHaveLength(0);
  });

  it("a signature over a different request (one byte changed in params)", async () => {
    const file = await request("test-dual");
    const other = path.join(dir, "other-request.json");
    const text = readFileSync(file, "utf8");
    expect(text).toContain('"days":30');
    writeFileSync(other, text.replace('"days":30', '"days":31'));
    const e = await refusal("test-dual", { requestFile: file, approvalFiles: [sig(other, alice), sig(file, alem)] });
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe("approval.bad-signature");
    expect(e.message).toContain("alice");
  });

  it("the same person twice", async () => {
    const file = await request("test-dual");
    const e = await refusal("test-dual", { requestFile: file, approvalFiles: [sig(file, carol), sig(file, carol)] });
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(/rule "test-dual": carol approved twice .*each approval must come from a different person/);
  });

  it("one person covering two roles", async () => {
    const file = await request("test-dual");
    const e = await refusal("test-dual", { requestFile: file, approvalFiles: [sig(file, carol)] });
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe("approval.missing");
    expect(e.message).toMatch(/rule "test-dual" \(drop-key-admin \+ CISO, distinct people\); still needed: (CISO|drop-key-admin)\. Approved so far by: carol\. Note: carol fills (CISO|drop-key-admin) and cannot also fill (CISO|drop-key-admin): one person, one role/);
  });

  it("an unknown approver", async () => {
    const file = await request("test-dual");
    const e = await refusal("test-dual", { requestFile: file, approvalFiles: [sig(file, mallory), sig(file, alem)] });
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe("approval.unknown-approver");
    expect(e.message).toMatch(/signed by key SHA256:\S+, which belongs to no registered approver/);
  });

  it("a revoked approver", async () => {
    const file = await request("test-dual");
    const e = await refusal("test-dual", { requestFile: file, approvalFiles: [sig(file, rev), sig(file, alem)] });
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe("approval.revoked");
    expect(e.message).toContain("rev is revoked in the approvers registry");
  });

  it("an expired request (lifetime 2 s, real wait)", async () => {
    const file = await request("test-short");
    const approvals = [sig(file, alice), sig(file, alem)];
    await new Promise((r) => setTimeout(r, 2100));
    const e = await refusal("test-short", { requestFile: file, approvalFiles: approvals });
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe("approval.expired");
    expect(e.message).toMatch(/^request \S+ expired at /);
  });

  it("a replayed request id", async () => {
    const file = await request("test-dual");
    const approvals = [sig(file, alice), sig(file, alem)];
    expect((await run("test-dual", { requestFile: file, approvalFiles: approvals })).result.status).toBe("done");
    const e = await refusal("test-dual", { requestFile: file, approvalFiles: approvals });
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe("approval.replay");
    expect(e.message).toContain("was already used");
    expect(intents(requestId(file))).toHaveLength(1);
  });

  it("a signature in another SSH namespace", async () => {
    const file = await request("test-dual");
    const copy = path.join(dir, `ns-${++counter}.json`);
    writeFileSync(copy, readFileSync(file));
    execFileSync("ssh-keygen", ["-q", "-Y", "sign", "-n", "file", "-f", alice.keyFile, copy]);
    const e = await refusal("test-dual", { requestFile: file, approvalFiles: [`${copy}.sig`, sig(file, alem)] });
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe("approval.wrong-namespace");
    expect(e.message).toContain('namespace "file", not "dropkeys-approval"');
  });

  it("a garbage or truncated approval file", async () => {
    const file = await request("test-dual");
    const garbage = path.join(dir, "garbage.sig");
    writeFileSync(garbage, "this is not a signature\n");
    let e = await refusal("test-dual", { requestFile: file, approvalFiles: [garbage] });
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe("approval.malformed");
    expect(e.message).toMatch(/approval garbage.sig: not a valid approval signature: it is neither an SSH signature/);

    const full = readFileSync(sig(file, alice), "utf8");
    const truncated = path.join(dir, "truncated.sig");
    writeFileSync(truncated, full.slice(0, Math.floor(full.length / 2)));
    e = await refusal("test-dual", { requestFile: file, approvalFiles: [truncated] });
    expect(e.code).toBe("approval.malformed");
    expect(e.message).toMatch(/approval truncated.sig: not a valid approval signature: no "-----END SSH SIGNATURE-----" line \(cut off\?\)/);

    const cut = full.split("\n");
    writeFileSync(truncated, [cut[0], cut[1], cut.at(-2)].join("\n") + "\n");
    e = await refusal("test-dual", { requestFile: file, approvalFiles: [truncated] });
    expect(e.message).toMatch(/not a valid approval signature: it is cut off/);
  });

  it("missing approvals without a terminal: names the roles still needed and the commands", async () => {
    const started = Date.now();
    const e = await refusal("test-dual", {});
    expect(Date.now() - started).toBeLessThan(1000);
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain('needs approval by rule "test-dual" (drop-key-admin + CISO, distinct people); still needed: drop-key-admin + CISO');
    expect(e.hint).toContain("drop-key-admin: alice, carol");
    expect(e.hint).toContain("--request-out");
    expect(e.hint).toContain("dropkeys approve");
    expect(e.hint).toContain("dropkeys apply");
  });
});

describe("the approvers registry", () => {
  it("refuses every operation when the approvers were edited without a new seal", async () => {
    const approvers = [...approverEntries([alem, alice, bob, carol, rev]), ...approverEntries([mallory]).map((a) => ({ ...a, name: "alem2", email: "alem2@drop.example" }))];
    (approvers[4] as { revoked?: boolean }).revoked = true;
    const edited = writePolicy(dir, { inventory, approvers, approvals: rules }, "edited.yaml");
    const s = spec("test-dual");
    const e = await runOperation(context(edited), s.spec, {}).catch((x: unknown) => x as DropkeysError);
    expect(e).toBeInstanceOf(DropkeysError);
    expect((e as DropkeysError).exitCode).toBe(3);
    expect((e as DropkeysError).message).toMatch(/^the approvers registry changed without approval: .* are not the list sealed in journal entry #1/);
    expect(s.calls.preflight).toBe(0);
  });

  it("refuses operations until a registry with approvers is sealed; an empty registry approves nothing", async () => {
    const fresh = path.join(dir, "fresh-journal");
    let e = await refusal("test-dual", {}, context(policyFile, fresh));
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain("the approvers registry has never been sealed");
    expect(e.hint).toContain("dropkeys approvers seal");

    const empty = writePolicy(dir, { inventory, approvers: [], approvals: rules }, "empty.yaml");
    const ctx = context(empty, fresh);
    const file = path.join(dir, "empty-request.json");
    expect((await runOperation(ctx, spec("test-dual").spec, { requestOut: file })).status).toBe("requested");
    e = await refusal("test-dual", { requestFile: file, approvalFiles: [] }, ctx);
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain("no approvers are registered");
  });
});
