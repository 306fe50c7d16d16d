// Key-policy drift in `status` and `sync-key-policy`, against the KMS emulator: a key policy
// changed behind dropkeys' back with the SDK is a finding with a readable diff; the sync (rule
// `generate`) puts the role bindings' policy back and the approvers sign its digest.
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, GetKeyPolicyCommand, PutKeyPolicyCommand } from "@aws-sdk/client-kms";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { kmsClient } from "../support/aws.js";
import { suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "./setup.js";

const s = suffix();
const managed = `kp-managed-${s}`;
const outside = `kp-outside-${s}`;
const attacker = `arn:aws:iam::123456789012:role/attacker-${s}`;
let w: World;

interface StatusJson {
  findings: number;
  entries: { name: string; health: string; problems: string[]; notes: string[]; keyPolicy?: { inSync: boolean; managed: boolean; added: string[]; removed: string[]; changed: { sid: string; principalsAdded: string[]; principalsRemoved: string[] }[] } }[];
}

async function keyIdOf(name: string): Promise<string> {
  return (await kmsClient().send(new DescribeKeyCommand({ KeyId: `alias/${name}` }))).KeyMetadata!.KeyId!;
}

async function policyText(name: string): Promise<string> {
  return (await kmsClient().send(new GetKeyPolicyCommand({ KeyId: await keyIdOf(name), PolicyName: "default" }))).Policy!;
}

async function status(): Promise<StatusJson> {
  const r = await w.cli(["status", "--json"]);
  return JSON.parse(r.stdout) as StatusJson;
}

const entryOf = (doc: StatusJson, name: string) => doc.entries.find((e) => e.name === name)!;

beforeAll(async () => {
  w = await makeWorld("key-policy", { inventory: [kmsEntry(managed), kmsEntry(outside)] });
  expect((await w.approved(["generate", managed])).code).toBe(0);
  // A key made outside dropkeys (by hand, with AWS's default key policy).
  const kms = kmsClient();
  const made = await kms.send(new CreateKeyCommand({ Description: "made by hand" }));
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${outside}`, TargetKeyId: made.KeyMetadata!.KeyId! }));
});

describe("key-policy drift", () => {
  it("a key generate made is in sync; a key made outside dropkeys is noted (kept until synced), not a policy finding", async () => {
    const doc = await status();
    expect(entryOf(doc, managed).keyPolicy).toMatchObject({ inSync: true, managed: true });
    expect(entryOf(doc, managed).problems).toEqual([]);
    const other = entryOf(doc, outside);
    expect(other.keyPolicy).toMatchObject({ inSync: false, managed: false });
    expect(other.notes.join("\n")).toContain(`made outside dropkeys: its key policy is kept until dropkeys sync-key-policy ${outside}`);
    expect(other.problems.join("\n")).not.toContain("key policy");
  });

  it("a PutKeyPolicy made with the SDK (attacker added to decrypt, canary statement dropped, a backdoor added) is a finding with a readable diff, exit 4", async () => {
    const current = JSON.parse(await policyText(managed)) as { Statement: { Sid: string; Principal: { AWS: string | string[] } }[] };
    const decrypt = current.Statement.find((st) => st.Sid === "DecryptByPurpose")!;
    decrypt.Principal.AWS = [String(decrypt.Principal.AWS), attacker];
    current.Statement = current.Statement.filter((st) => st.Sid !== "CanaryOnly");
    current.Statement.push({ Sid: "Backdoor", Principal: { AWS: attacker }, Effect: "Allow", Action: ["kms:*"], Resource: "*" } as never);
    await kmsClient().send(new PutKeyPolicyCommand({ KeyId: await keyIdOf(managed), PolicyName: "default", Policy: JSON.stringify(current) }));

    const r = await w.cli(["status"]);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`${managed}: key policy differs from the role bindings`);
    expect(r.stdout).toContain(`~ statement DecryptByPurpose: - principal ${attacker}`);
    expect(r.stdout).toContain("+ statement CanaryOnly:");
    expect(r.stdout).toContain(`- statement Backdoor: Allow ${attacker} to kms:*`);
    const doc = await status();
    expect(entryOf(doc, managed)).toMatchObject({ health: "unexpected-state", keyPolicy: { inSync: false, managed: true, added: ["CanaryOnly"], removed: ["Backdoor"] } });
    expect(entryOf(doc, managed).keyPolicy!.changed).toEqual([expect.objectContaining({ sid: "DecryptByPurpose", principalsRemoved: [attacker], principalsAdded: [] })]);
  });

  it("sync-key-policy needs drop-key-admin + CISO, shows the diff in the request, signs the new policy's digest, puts it back", async () => {
    const refused = await w.cli(["sync-key-policy", managed]);
    expect(refused.code).toBe(3);
    expect(await policyText(managed)).toContain("Backdoor");
    const file = path.join(w.dir, `sync-${s}.json`);
    const requested = await w.cli(["sync-key-policy", managed, "--request-out", file]);
    expect(requested.code, requested.stderr).toBe(0);
    expect(requested.stdout).toContain("- statement Backdoor");
    const request = JSON.parse(readFileSync(file, "utf8")) as { params: { keyPolicySha256: string; changes: string[] } };
    expect(request.params.changes).toEqual(expect.arrayContaining([expect.stringContaining("- statement Backdoor")]));

    const r = await w.approved(["sync-key-policy", managed, "--reason", "undo the change made outside dropkeys"]);
    expect(r.code, r.stderr).toBe(0);
    const text = await policyText(managed);
    expect(text).not.toContain("Backdoor");
    expect(text).not.toContain(attacker);
    const intent = w.journal().filter((e) => e.operation === "sync-key-policy").at(-2) as { params: { keyPolicySha256: string } };
    expect(intent.params.keyPolicySha256).toBe(createHash("sha256").update(text).digest("hex"));
    const doc = await status();
    expect(entryOf(doc, managed).keyPolicy).toMatchObject({ inSync: true });
    expect(entryOf(doc, managed).problems).toEqual([]);
  });

  it("a request signed for one diff is refused once the key policy changed again (the approvers saw another diff)", async () => {
    const file = path.join(w.dir, `stale-${s}.json`);
    await kmsClient().send(new PutKeyPolicyCommand({ KeyId: await keyIdOf(outside), PolicyName: "default", Policy: JSON.stringify({ Version: "2012-10-17", Statement: [] }) }));
    expect((await w.cli(["sync-key-policy", outside, "--request-out", file])).code).toBe(0);
    const before = await policyText(outside);
    await kmsClient().send(new PutKeyPolicyCommand({ KeyId: await keyIdOf(outside), PolicyName: "default", Policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "Other", Effect: "Allow", Principal: { AWS: attacker }, Action: "kms:Decrypt", Resource: "*" }] }) }));
    const { signRequest } = await import("../support/approvers.js");
    const r = await w.cli(["apply", file, "--approval", signRequest(file, w.alem), "--approval", signRequest(file, w.alice)]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("different parameters");
    expect(await policyText(outside)).not.toBe(before);
    expect(await policyText(outside)).toContain("Other");
  });

  it("after a sync, a key made outside dropkeys is managed: later drift is a finding", async () => {
    expect((await w.approved(["sync-key-policy", outside, "--reason", "adopt"])).code).toBe(0);
    expect(entryOf(await status(), outside).keyPolicy).toMatchObject({ inSync: true, managed: true });
    await kmsClient().send(new PutKeyPolicyCommand({ KeyId: await keyIdOf(outside), PolicyName: "default", Policy: JSON.stringify({ Version: "2012-10-17", Statement: [] }) }));
    const other = entryOf(await status(), outside);
    expect(other.problems.join("\n")).toContain("key policy differs");
  });
});
