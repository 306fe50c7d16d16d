// The KMS key lifecycle through the CLI with real approvals (SSH signatures, sealed registry),
// against the strict KMS emulators; every state is read back from the emulator.
import {
  DescribeKeyCommand,
  EncryptCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  ListAliasesCommand,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  CreateKeyCommand,
  CreateAliasCommand,
} from "@aws-sdk/client-kms";
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { signRequest } from "../support/approvers.js";
import { kmsClient } from "../support/aws.js";
import { suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "./setup.js";

const s = suffix();
const names = { main: `kl-main-${s}`, west: `kl-west-${s}`, hold: `kl-hold-${s}`, wrong: `kl-wrong-${s}` };
let w: World;

async function describeAlias(name: string, region = "eu-north-1") {
  return (await kmsClient(region).send(new DescribeKeyCommand({ KeyId: `alias/${name}` }))).KeyMetadata!;
}

beforeAll(async () => {
  w = await makeWorld("keys-kms", {
    inventory: [
      kmsEntry(names.main),
      kmsEntry(names.west, { region: "eu-west-1", rotationMode: "manual" }),
      kmsEntry(names.hold, { litigationHold: true }),
      kmsEntry(names.wrong, { region: "eu-west-1" }),
    ],
  });
  // A key made by hand in the wrong region: the policy says eu-west-1.
  const kms = kmsClient("eu-north-1");
  const key = await kms.send(new CreateKeyCommand({ Description: "made in the wrong region" }));
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${names.wrong}`, TargetKeyId: key.KeyMetadata!.KeyId! }));
});

describe("generate (KMS key)", () => {
  it("refuses without the approvals of drop-key-admin + CISO when no one is at a terminal (exit 3), creating nothing", async () => {
    const r = await w.cli(["generate", names.main]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("drop-key-admin + CISO");
    await expect(describeAlias(names.main)).rejects.toMatchObject({ name: "NotFoundException" });
  });

  it("shows exactly what it would do under --dry-run and changes nothing", async () => {
    const r = await w.cli(["generate", names.main, "--dry-run", "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { status: string; request: { params: Record<string, unknown> } };
    expect(doc.status).toBe("dry-run");
    expect(doc.request.params).toMatchObject({ name: names.main, kind: "kms-key", keySpec: "SYMMETRIC_DEFAULT", rotationPeriodDays: 365 });
    await expect(describeAlias(names.main)).rejects.toMatchObject({ name: "NotFoundException" });
  });

  it("creates the key with alias, tags, annual rotation and a purpose-bound key policy", async () => {
    const r = await w.approved(["generate", names.main, "--reason", "initial setup"]);
    expect(r.code, r.stderr).toBe(0);
    const key = await describeAlias(names.main);
    expect(key.KeyState).toBe("Enabled");
    expect(key.KeySpec).toBe("SYMMETRIC_DEFAULT");
    expect(key.Description).toContain(`test key ${names.main}`);
    const kms = kmsClient();
    expect((await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }))).KeyRotationEnabled).toBe(true);
    const tags = Object.fromEntries((await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId }))).Tags!.map((t) => [t.TagKey, t.TagValue]));
    expect(tags).toMatchObject({ Name: names.main, Classification: "L4", Owner: "security", Purpose: `test key ${names.main}`, ManagedBy: "dropkeys" });
    const policy = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: "default" }))).Policy!) as {
      Statement: { Sid: string; Principal: { AWS: string | string[] }; Action: string[]; Condition?: unknown }[];
    };
    const bySid = Object.fromEntries(policy.Statement.map((st) => [st.Sid, st]));
    // Admins manage but never decrypt data; only the decrypt role may.
    expect(bySid.KeyAdministrators!.Principal.AWS).toBe("arn:aws:iam::123456789012:role/drop-key-admin");
    expect(bySid.KeyAdministrators!.Action).not.toContain("kms:Decrypt");
    expect(bySid.AccountAdministrationOnly!.Action).not.toContain("kms:Decrypt");
    expect(bySid.DecryptByPurpose!.Principal.AWS).toBe("arn:aws:iam::123456789012:role/drop-app-runner");
    expect(bySid.DecryptByPurpose!.Action).toContain("kms:Decrypt");
    expect(bySid.EncryptOnly!.Action).not.toContain("kms:Decrypt");
    expect(bySid.CanaryOnly!.Condition).toEqual({ StringEquals: { "kms:EncryptionContext:dropkeys-canary": "1" } });
    const outcome = w.journal().filter((e) => e.operation === "generate" && e.type === "outcome").at(-1)!;
    expect(outcome).toMatchObject({ outcome: "succeeded", verification: { result: "passed" }, details: { keyId: key.KeyId } });
  });

  it("run again, says the alias exists, exits 0 and creates nothing", async () => {
    const before = await describeAlias(names.main);
    const r = await w.cli(["generate", names.main]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`alias/${names.main} already exists`);
    expect((await describeAlias(names.main)).KeyId).toBe(before.KeyId);
    const aliases = (await kmsClient().send(new ListAliasesCommand({}))).Aliases!.filter((a) => a.AliasName === `alias/${names.main}`);
    expect(aliases).toHaveLength(1);
  });

  it("creates drop-backup-style keys in their own region (eu-west-1), manual rotation", async () => {
    const r = await w.approved(["generate", names.west]);
    expect(r.code, r.stderr).toBe(0);
    const key = await describeAlias(names.west, "eu-west-1");
    expect(key.Arn).toContain(":eu-west-1:");
    expect((await kmsClient("eu-west-1").send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }))).KeyRotationEnabled).toBe(false);
    await expect(describeAlias(names.west, "eu-north-1")).rejects.toMatchObject({ name: "NotFoundException" });
  });
});

describe("refusals", () => {
  it("an unknown key is exit 2 naming the inventory", async () => {
    const r = await w.cli(["disable", `no-such-key-${s}`, "--reason", "x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("is not in the policy's inventory");
  });

  it("a key that lives in another region than the policy says is exit 1 naming both regions", async () => {
    const r = await w.cli(["disable", names.wrong, "--reason", "x", "--json"]);
    expect(r.code).toBe(1);
    const err = JSON.parse(r.stderr) as { error: { code: string; message: string } };
    expect(err.error.code).toBe("target.wrong-region");
    expect(err.error.message).toContain("does not exist in eu-west-1, but it exists in eu-north-1");
  });

  it("--reason is required (exit 2) for every command but generate", async () => {
    for (const args of [["disable", names.main], ["enable", names.main], ["rotate-key", names.main], ["schedule-deletion", names.main, "--confirm", `alias/${names.main}`], ["cancel-deletion", names.main]]) {
      const r = await w.cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain("needs --reason");
    }
  });
});

describe("disable, enable, rotate-key", () => {
  it("without an approval and no terminal: exit 3, key still enabled", async () => {
    const r = await w.cli(["disable", names.main, "--reason", "leak"]);
    expect(r.code).toBe(3);
    expect((await describeAlias(names.main)).KeyState).toBe("Enabled");
  });

  it("--dry-run changes nothing and journals nothing", async () => {
    const before = w.journal().length;
    const r = await w.cli(["disable", names.main, "--reason", "leak", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Dry run");
    expect(r.stdout).toContain("Needs approval by: security-lead or CISO");
    expect(w.journal()).toHaveLength(before);
    expect((await describeAlias(names.main)).KeyState).toBe("Enabled");
  });

  it("disables with one approver, verifies the key no longer encrypts, and opens the incident", async () => {
    const detected = new Date(Date.now() - 3_600_000).toISOString();
    const r = await w.approved(["disable", names.main, "--reason", "ARN leaked in a CI log", "--detected-at", detected, "--incident", `INC-T-${s}`], [w.alem]);
    expect(r.code, r.stderr).toBe(0);
    // `dropkeys apply` shows what `dropkeys disable` shows: the result, the checklist, the deadlines.
    expect(r.stdout).toContain(`Disabled ${names.main}`);
    expect(r.stdout).toMatch(/72 ?h/);
    const key = await describeAlias(names.main);
    expect(key.KeyState).toBe("Disabled");
    await expect(kmsClient().send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from("x") }))).rejects.toMatchObject({ name: "DisabledException" });
    const [intent, outcome] = w.journal().filter((e) => e.operation === "disable").slice(-2) as [Record<string, unknown>, Record<string, unknown>];
    expect(intent).toMatchObject({ type: "intent", incident: `INC-T-${s}`, reason: "ARN leaked in a CI log", params: { name: names.main, detectedAt: detected } });
    expect(outcome).toMatchObject({ type: "outcome", outcome: "succeeded", verification: { result: "passed" } });
    expect((outcome.verification as { detail: string }).detail).toMatch(/KeyState Disabled.*Encrypt refused \(DisabledException\).*canary Decrypt refused \(DisabledException\)/);
    expect((outcome.details as { canary?: string }).canary).toBeTruthy();
  });

  it("disable again: says already disabled, exit 0, and records it under the incident", async () => {
    const r = await w.cli(["disable", names.main, "--reason", "again", "--incident", `INC-T-${s}`, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "noop", message: `${names.main} is already disabled: nothing to do.` });
  });

  it("incident show: timeline, checklist, 72 h and 48 h deadlines from the detection time", async () => {
    const r = await w.cli(["incident", "show", `INC-T-${s}`, "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      detectedAt: string;
      checklist: { step: number; done: boolean }[];
      deadlines: { step: number; due: string; overdue: boolean }[];
      timeline: { operation: string; type: string; approvals: string[] }[];
    };
    const detected = Date.parse(report.detectedAt);
    expect(report.deadlines.find((d) => d.step === 10)!.due).toBe(new Date(detected + 72 * 3_600_000).toISOString());
    expect(report.deadlines.find((d) => d.step === 12)!.due).toBe(new Date(detected + 48 * 3_600_000).toISOString());
    expect(report.checklist.filter((c) => c.done).map((c) => c.step)).toEqual([1, 3, 11]);
    expect(report.timeline.map((t) => `${t.type} ${t.operation}`)).toEqual(["intent disable", "outcome disable", "event disable"]);
    expect(report.timeline[0]!.approvals).toEqual(["alem (security-lead)"]);
    const human = await w.cli(["incident", "show", `INC-T-${s}`]);
    expect(human.stdout).toMatch(/\[x\] +3 Disable the key in KMS/);
    expect(human.stdout).toMatch(/\[ \] +2 Scope/);
    expect(human.stdout).toMatch(/Breach notification to Datatilsynet \(GDPR Art\. 33, 72 h\): due \d{4}-\d\d-\d\d \d\d:\d\d CET \(2d 23h/);
    const done = await w.cli(["incident", "done", `INC-T-${s}`, "2", "--note", "only KYC documents"]);
    expect(done.code).toBe(0);
    const list = JSON.parse((await w.cli(["incident", "list", "--json"])).stdout) as { incidents: { id: string; done: number }[] };
    expect(list.incidents.find((i) => i.id === `INC-T-${s}`)!.done).toBe(4);
    expect((await w.cli(["incident", "show", `INC-NONE-${s}`])).code).toBe(2);
    expect((await w.cli(["incident", "done", `INC-T-${s}`, "13"])).code).toBe(2);
  });

  it("enable undoes a false alarm with drop-key-admin + CISO; enable again is a no-op", async () => {
    const r = await w.approved(["enable", names.main, "--reason", "false alarm"]);
    expect(r.code, r.stderr).toBe(0);
    expect((await describeAlias(names.main)).KeyState).toBe("Enabled");
    const again = await w.cli(["enable", names.main, "--reason", "again"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("already enabled");
  });

  it("rotate-key rotates on demand, verified through ListKeyRotations; a repeat within the hour rotates nothing", async () => {
    const key = await describeAlias(names.main);
    const r = await w.approved(["rotate-key", names.main, "--reason", "manual rotation"]);
    expect(r.code, r.stderr).toBe(0);
    const rotations = (await kmsClient().send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))).Rotations!;
    expect(rotations.filter((x) => x.RotationType === "ON_DEMAND")).toHaveLength(1);
    const again = await w.cli(["rotate-key", names.main, "--reason", "again"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("less than an hour ago");
    expect((await kmsClient().send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))).Rotations).toHaveLength(1);
  });
});

describe("disable in eu-west-1, inline approval", () => {
  it("--request/--approval on the command itself: JSON with the new incident and its deadlines", async () => {
    const req = path.join(w.dir, `disable-west-${s}.json`);
    let r = await w.cli(["disable", names.west, "--reason", "suspicious decrypts", "--request-out", req]);
    expect(r.code, r.stderr).toBe(0);
    r = await w.cli(["disable", names.west, "--request", req, "--approval", signRequest(req, w.alem), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { status: string; result: { region: string }; incident: { id: string; deadlines: unknown[] }; next: string[] };
    expect(doc.status).toBe("done");
    expect(doc.result.region).toBe("eu-west-1");
    expect(doc.incident.id).toMatch(/^INC-\d{8}-\d{4}$/);
    expect(doc.incident.deadlines).toHaveLength(2);
    expect(doc.next[0]).toContain(`dropkeys enable ${names.west}`);
    expect((await describeAlias(names.west, "eu-west-1")).KeyState).toBe("Disabled");
  });
});

describe("schedule-deletion and cancel-deletion", () => {
  it("a window of 6 or 31 days is exit 2 before any approval is asked", async () => {
    for (const days of ["6", "31", "7.5"]) {
      const r = await w.cli(["schedule-deletion", names.main, "--days", days, "--reason", "x", "--confirm", `alias/${names.main}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("--days must be a whole number from 7 to 30");
    }
  });

  it("without --confirm and without a terminal: exit 2; a wrong --confirm: exit 2", async () => {
    let r = await w.cli(["schedule-deletion", names.main, "--days", "7", "--reason", "x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--confirm alias/${names.main}`);
    r = await w.cli(["schedule-deletion", names.main, "--days", "7", "--reason", "x", "--confirm", "alias/other"]);
    expect(r.code).toBe(2);
    expect((await describeAlias(names.main)).KeyState).toBe("Enabled");
  });

  it("schedules with dual approval, verifies PendingDeletion, the date and a failing canary decrypt; journals POLICY.md §6", async () => {
    const key = await describeAlias(names.main);
    const started = Date.now();
    const r = await w.approved(["schedule-deletion", names.main, "--days", "7", "--reason", "replaced after the incident", "--confirm", `alias/${names.main}`, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const now = await describeAlias(names.main);
    expect(now.KeyState).toBe("PendingDeletion");
    const days = (now.DeletionDate!.getTime() - started) / 86_400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThan(7.01);
    const outcome = w.journal().filter((e) => e.operation === "schedule-deletion").at(-1) as { verification: { result: string; detail: string; method: string }; details: { deletionDate: string; keyId: string } };
    expect(outcome.verification.result).toBe("passed");
    expect(outcome.verification.detail).toMatch(/canary Decrypt refused \((DisabledException|KMSInvalidStateException)\)/);
    expect(outcome.details).toMatchObject({ keyId: key.KeyId, deletionDate: now.DeletionDate!.toISOString() });
    const md = readFileSync(path.join(w.journalDir, "internkontroll.md"), "utf8");
    const section = md.slice(md.lastIndexOf("schedule-deletion"));
    for (const field of ["Destruction record: POLICY.md §6", `Key id: ${key.Arn}`, "Verification method: DescribeKey", "Verification result: passed", now.DeletionDate!.toISOString(), "Actor: "]) {
      expect(section).toContain(field);
    }
    expect(md).toContain("Reason: replaced after the incident");
  });

  it("again: already pending deletion, exit 0; enable of a pending key is refused (exit 1)", async () => {
    const again = await w.cli(["schedule-deletion", names.main, "--days", "7", "--reason", "x", "--confirm", names.main]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("already pending deletion");
    const enable = await w.cli(["enable", names.main, "--reason", "x", "--json"]);
    expect(enable.code).toBe(1);
    expect(JSON.parse(enable.stderr).error.code).toBe("state.pending-deletion");
  });

  it("generate on an alias whose key is pending deletion says so and offers both ways; --move-alias makes a new key", async () => {
    const old = await describeAlias(names.main);
    const r = await w.cli(["generate", names.main, "--json"]);
    expect(r.code).toBe(1);
    const err = JSON.parse(r.stderr) as { error: { code: string; hint: string } };
    expect(err.error.code).toBe("generate.alias-pending-deletion");
    expect(err.error.hint).toContain("cancel-deletion");
    expect(err.error.hint).toContain("--move-alias");
    const moved = await w.approved(["generate", names.main, "--move-alias", "--reason", "replacement"]);
    expect(moved.code, moved.stderr).toBe(0);
    const now = await describeAlias(names.main);
    expect(now.KeyId).not.toBe(old.KeyId);
    expect(now.KeyState).toBe("Enabled");
  });

  it("a key under litigation hold also needs Legal; cancel-deletion leaves the key Disabled and says so", async () => {
    expect((await w.approved(["generate", names.hold])).code).toBe(0);
    const args = ["schedule-deletion", names.hold, "--reason", "end of life", "--confirm", `alias/${names.hold}`];
    const withoutLegal = await w.approved(args);
    expect(withoutLegal.code).toBe(3);
    expect(withoutLegal.stderr).toContain("legal");
    expect((await describeAlias(names.hold)).KeyState).toBe("Enabled");
    const withLegal = await w.approved(args, [w.alem, w.alice, w.lena]);
    expect(withLegal.code, withLegal.stderr).toBe(0);
    expect((await describeAlias(names.hold)).KeyState).toBe("PendingDeletion");
    const cancel = await w.approved(["cancel-deletion", names.hold, "--reason", "legal hold extended"], [w.alice]);
    expect(cancel.code, cancel.stderr).toBe(0);
    const key = await describeAlias(names.hold);
    expect(key.KeyState).toBe("Disabled");
    expect(key.DeletionDate).toBeUndefined();
    const again = await w.cli(["cancel-deletion", names.hold, "--reason", "x"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("not pending deletion (it is Disabled)");
  });

  it("the request/approval flow works on the command itself too (--request + --approval), with its own rendering", async () => {
    const req = path.join(w.dir, `enable-${s}.json`);
    let r = await w.cli(["enable", names.hold, "--reason", "needed after all", "--request-out", req]);
    expect(r.code).toBe(0);
    const sigs = [w.alem, w.alice].flatMap((a) => ["--approval", signRequest(req, a)]);
    r = await w.cli(["enable", names.hold, "--request", req, ...sigs]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Enabled ${names.hold}`);
    expect((await describeAlias(names.hold)).KeyState).toBe("Enabled");
  });
});
