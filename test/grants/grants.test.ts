// Access grants through the CLI with real approvals (SSH signatures, sealed registry), against the
// KMS emulator (moto serves grants); every grant is read back with ListGrants.
import { CreateGrantCommand, DescribeKeyCommand, ListGrantsCommand, type GrantListEntry } from "@aws-sdk/client-kms";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { kmsClient } from "../support/aws.js";
import { suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";

const s = suffix();
const key = `gr-key-${s}`;
const runner = "arn:aws:iam::123456789012:role/drop-app-runner";
const stranger = `arn:aws:iam::123456789012:role/contractor-${s}`;
let w: World;
let keyId: string;

async function grantsOnKey(id = keyId): Promise<GrantListEntry[]> {
  return (await kmsClient().send(new ListGrantsCommand({ KeyId: id }))).Grants ?? [];
}

interface Entry {
  type: string;
  seq: number;
  params?: Record<string, unknown>;
  approvals?: { role: string }[];
  details: { expiresAt: string; [k: string]: unknown };
}

interface GrantsJson {
  keys: { key: string; grants: { grantId: string; grantee: string; foreign: boolean; expired: boolean; expiresAt?: string; outsideRoleBindings: boolean }[] }[];
}

/** The id of the last grant a world made, from its journal (apply prints the human result). */
function lastGrant(world: World): { grantId: string; expiresAt: string; createdAt: string } {
  return (world.journal().filter((e) => e.operation === "grant" && e.type === "outcome").at(-1) as { details: { grantId: string; expiresAt: string; createdAt: string } }).details;
}

beforeAll(async () => {
  w = await makeWorld("grants", { inventory: [kmsEntry(key)], grants: { maxLifetime: "90d" } });
  const r = await w.approved(["generate", key, "--reason", "grants test"]);
  expect(r.code, r.stderr).toBe(0);
  keyId = (await kmsClient().send(new DescribeKeyCommand({ KeyId: `alias/${key}` }))).KeyMetadata!.KeyId!;
});

describe("dropkeys grant", () => {
  it("without the approvals of security-lead + system-owner and no terminal: exit 3, no grant made", async () => {
    const r = await w.cli(["grant", key, "--to", runner, "--operations", "Decrypt"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("security-lead + system-owner");
    expect(await grantsOnKey()).toHaveLength(0);
  });

  it("one person cannot fill both roles: alem alone (security-lead) is refused", async () => {
    const r = await w.approved(["grant", key, "--to", runner, "--operations", "Decrypt"], [w.alem]);
    expect(r.code).toBe(3);
    expect(await grantsOnKey()).toHaveLength(0);
  });

  it("makes the grant (no constraint), journals its id and expiry (default: the policy's maxLifetime), verified with ListGrants", async () => {
    const before = Date.now();
    const r = await w.approved(["grant", key, "--to", runner, "--operations", "GenerateDataKey,Decrypt"], [w.alem, w.lena]);
    expect(r.code, r.stderr).toBe(0);
    const { grantId } = lastGrant(w);
    expect(r.stdout).toContain(`Granted ${runner} Decrypt, GenerateDataKey on ${key}`);
    expect(r.stdout).toContain(grantId);
    const listed = (await grantsOnKey()).find((g) => g.GrantId === grantId)!;
    expect(listed).toMatchObject({ GranteePrincipal: runner, Name: expect.stringMatching(/^dropkeys-/) });
    expect([...listed.Operations!].sort()).toEqual(["Decrypt", "GenerateDataKey"]);
    expect(listed.Constraints?.EncryptionContextSubset ?? undefined).toBeUndefined();
    const [intent, outcome] = w.journal().filter((e) => e.operation === "grant").slice(-2) as unknown as [Entry, Entry];
    expect(intent).toMatchObject({ type: "intent", params: { grantee: runner, operations: ["Decrypt", "GenerateDataKey"], lifetimeSeconds: 90 * 86400, outsideRoleBindings: false } });
    expect(intent.approvals!.map((a) => a.role).sort()).toEqual(["security-lead", "system-owner"]);
    expect(outcome).toMatchObject({ type: "outcome", outcome: "succeeded", verification: { result: "passed" }, details: { grantId, keyId, grantee: runner } });
    const expires = Date.parse(outcome.details.expiresAt) - before;
    expect(expires).toBeGreaterThan(90 * 86_400_000 - 120_000);
    expect(expires).toBeLessThanOrEqual(90 * 86_400_000 + 120_000);
  });

  it("with --encryption-context as EncryptionContextSubset, --name and --expires", async () => {
    const r = await w.approved(["grant", key, "--to", runner, "--operations", "Decrypt", "--encryption-context", "purpose=kyc", "--encryption-context", "tenant=drop", "--name", `kyc-${s}`, "--expires", "7d"], [w.alem, w.lena]);
    expect(r.code, r.stderr).toBe(0);
    const id = lastGrant(w).grantId;
    const listed = (await grantsOnKey()).find((g) => g.GrantId === id)!;
    expect(listed.Name).toBe(`kyc-${s}`);
    expect(listed.Constraints?.EncryptionContextSubset).toEqual({ purpose: "kyc", tenant: "drop" });
    const made = lastGrant(w);
    expect(Date.parse(made.expiresAt) - Date.parse(made.createdAt)).toBe(7 * 86_400_000);
  });

  it("refuses before any approval (exit 2): longer than the policy allows, CreateGrant, a context on DescribeKey, a non-ARN grantee", async () => {
    const count = (await grantsOnKey()).length;
    for (const [args, text] of [
      [["--to", runner, "--operations", "Decrypt", "--expires", "91d"], "longer than the policy allows"],
      [["--to", runner, "--operations", "Decrypt,CreateGrant"], "CreateGrant"],
      // AWS answers ValidationException for this; moto accepts it, so dropkeys checks it itself.
      [["--to", runner, "--operations", "Decrypt,DescribeKey", "--encryption-context", "a=b"], "cannot constrain DescribeKey"],
      [["--to", "kyc-worker", "--operations", "Decrypt"], "not an IAM principal ARN"],
      [["--to", runner, "--operations", "Decrypt", "--expires", "soon"], "not a duration"],
    ] as [string[], string][]) {
      const r = await w.cli(["grant", key, ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(text);
    }
    expect(await grantsOnKey()).toHaveLength(count);
  });

  it("a grantee outside the key's role bindings needs --reason, and the request shows it to the approvers", async () => {
    const refused = await w.cli(["grant", key, "--to", stranger, "--operations", "Decrypt"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("not in");
    expect(refused.stderr).toContain("needs --reason");
    const file = path.join(w.dir, `outside-${s}.json`);
    const requested = await w.cli(["grant", key, "--to", stranger, "--operations", "Decrypt", "--reason", "contractor migration", "--request-out", file]);
    expect(requested.code, requested.stderr).toBe(0);
    expect(requested.stderr).toContain("OUTSIDE THE KEY'S ROLE BINDINGS");
    const request = JSON.parse(readFileSync(file, "utf8")) as { params: Record<string, unknown> };
    expect(request.params).toMatchObject({ grantee: stranger, outsideRoleBindings: true });
    // What an approver sees before signing (dropkeys approve prints the request in plain words).
    const shown = await w.cli(["approve", file, "--as", "alem", "--key", w.alem.keyFile, "--out", `${file}.alem.sig`]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout + shown.stderr).toContain("outsideRoleBindings=true");
  });
});

describe("dropkeys grants and revoke-grant", () => {
  let foreignId: string;
  beforeAll(async () => {
    // Made with the SDK directly, as someone with kms:CreateGrant could outside dropkeys.
    foreignId = (await kmsClient().send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: stranger, Operations: ["Decrypt"] }))).GrantId!;
  });

  it("lists every grant, the one made outside dropkeys marked foreign (--json booleans)", async () => {
    const r = await w.cli(["grants", key, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as GrantsJson;
    const grants = doc.keys[0]!.grants;
    expect(grants.find((g) => g.grantId === foreignId)).toMatchObject({ foreign: true, expired: false, grantee: stranger, outsideRoleBindings: true });
    const ours = grants.filter((g) => !g.foreign);
    expect(ours.length).toBeGreaterThanOrEqual(2);
    for (const g of ours) expect(g).toMatchObject({ expired: false, expiresAt: expect.any(String) });
    const human = await w.cli(["grants", key]);
    expect(human.stdout).toMatch(new RegExp(`${foreignId}.*FOREIGN`));
  });

  it("--retire-expired retires nothing that has not expired and never touches a foreign grant", async () => {
    const before = (await grantsOnKey()).length;
    const r = await w.cli(["grant", "--retire-expired", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { grants: unknown[] }).grants).toEqual([]);
    expect(await grantsOnKey()).toHaveLength(before);
  });

  it("revoke-grant needs one Security Lead or the CISO, revokes the foreign grant and verifies it gone; again: nothing to do", async () => {
    const refused = await w.cli(["revoke-grant", key, foreignId, "--reason", "unknown grant"]);
    expect(refused.code).toBe(3);
    expect((await grantsOnKey()).some((g) => g.GrantId === foreignId)).toBe(true);
    const r = await w.approved(["revoke-grant", key, foreignId, "--reason", "unknown grant"], [w.alem]);
    expect(r.code, r.stderr).toBe(0);
    expect((await grantsOnKey()).some((g) => g.GrantId === foreignId)).toBe(false);
    const outcome = w.journal().filter((e) => e.operation === "revoke-grant").at(-1);
    expect(outcome).toMatchObject({ type: "outcome", outcome: "succeeded", verification: { result: "passed" }, details: { grantId: foreignId, grantee: stranger } });
    const again = await w.cli(["revoke-grant", key, foreignId, "--reason", "unknown grant"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("nothing to do");
  });
});

describe("expiry: a policy lifetime of seconds, the real clock", () => {
  it("a grant past its expiry is marked expired and retired by --retire-expired (journalled), once", async () => {
    const short = `gr-short-${s}`;
    const v = await makeWorld("grants-expiry", { inventory: [kmsEntry(short)], grants: { maxLifetime: "3s" } });
    expect((await v.approved(["generate", short])).code).toBe(0);
    const id = (await kmsClient().send(new DescribeKeyCommand({ KeyId: `alias/${short}` }))).KeyMetadata!.KeyId!;
    const made = await v.approved(["grant", short, "--to", runner, "--operations", "Decrypt"], [v.alem, v.lena]);
    expect(made.code, made.stderr).toBe(0);
    const grantId = lastGrant(v).grantId;
    const tooLong = await v.cli(["grant", short, "--to", runner, "--operations", "Decrypt", "--expires", "4s"]);
    expect(tooLong.code).toBe(2);
    const expiresAt = Date.parse(lastGrant(v).expiresAt);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 500));
    const listed = JSON.parse((await v.cli(["grants", "--json"])).stdout) as GrantsJson;
    expect(listed.keys[0]!.grants.find((g) => g.grantId === grantId)).toMatchObject({ foreign: false, expired: true });
    const r = await v.cli(["grant", "--retire-expired", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { grants: { grantId: string; result: string }[] }).grants).toEqual([expect.objectContaining({ grantId, result: "retired" })]);
    expect(await grantsOnKey(id)).toHaveLength(0);
    const [intent, outcome] = v.journal().filter((e) => e.operation === "retire-grant") as unknown as Entry[];
    expect(intent).toMatchObject({ type: "intent", params: { grantId } });
    expect(intent!.approvals).toBeUndefined();
    expect(outcome).toMatchObject({ type: "outcome", outcome: "succeeded", intentSeq: intent!.seq, verification: { result: "passed" }, details: { grantId } });
    const again = await v.cli(["grant", "--retire-expired"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("No dropkeys grant");
    expect(v.journal().filter((e) => e.operation === "retire-grant")).toHaveLength(2);
    expect((await v.cli(["log", "verify"])).code).toBe(0);
  });
});

it("the journal's markdown exists (grants are rendered for people too)", () => {
  expect(existsSync(path.join(w.journalDir, "internkontroll.md"))).toBe(true);
});
