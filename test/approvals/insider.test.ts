// The two-person rule against an insider: one security engineer (alice) with a shell, the AWS
// credentials dropkeys uses, write access to the policy file and the journal directory, and her
// own registered SSH key, but no other approver's private key. Each attack is done as she would
// do it, through the built CLI against the emulators, and must end refused before anything
// happens (exit 3 for approvals, seals and bindings) or detected (`log verify` exit 1 naming the
// entry and the kind of change).
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CreateAliasCommand, DescribeKeyCommand, DisableKeyCommand } from "@aws-sdk/client-kms";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { openDatabase } from "../../src/lib/db/index.js";
import { dropDatabaseSection, seedDropDatabase } from "../../src/lib/envelope/seed.js";
import { Journal } from "../../src/lib/journal/journal.js";
import { signRequest } from "../support/approvers.js";
import { cliAwsEnv, kmsClient } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";
import { createKmsKey } from "../db/support.js";

const kms = kmsClient();

async function aliasedKey(name: string) {
  const key = await createKmsKey();
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.keyId }));
  return key;
}

const keyState = async (keyId: string) => (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;

/** The policy file as a plain object, edited and written back as the insider would. */
function editPolicy(w: World, edit: (policy: Record<string, unknown>) => void): () => void {
  const original = readFileSync(w.policyFile, "utf8");
  const policy = parse(original) as Record<string, unknown>;
  edit(policy);
  writeFileSync(w.policyFile, stringify(policy));
  return () => writeFileSync(w.policyFile, original);
}

/** --request-out, then each signer signs with plain ssh-keygen; returns the request and its signatures. */
async function signedRequest(w: World, args: string[], signers: World["alem"][]): Promise<{ file: string; sigs: string[] }> {
  const file = path.join(w.dir, `req-${suffix()}.json`);
  const r = await w.cli([...args, "--request-out", file]);
  expect(r.code, r.stderr).toBe(0);
  return { file, sigs: signers.flatMap((a) => ["--approval", signRequest(file, a)]) };
}

describe("an edited policy approves nothing", () => {
  let w: World;
  let held: { keyId: string };
  let off: { keyId: string };
  const s = suffix();
  const heldName = `held-${s}`;
  const offName = `off-${s}`;

  beforeAll(async () => {
    [held, off] = await Promise.all([aliasedKey(heldName), aliasedKey(offName)]);
    await kms.send(new DisableKeyCommand({ KeyId: off.keyId }));
    w = await makeWorld("insider", {
      inventory: [kmsEntry(heldName, { litigationHold: true }), kmsEntry(offName)],
      database: dropDatabaseSection("combined", "sqlite:drop.db"),
    });
  });

  it("edited rule: a one-person `enable` rule is refused (exit 3 naming approvals.enable), and so is a re-seal she signs alone", async () => {
    const restore = editPolicy(w, (p) => {
      (p.approvals as Record<string, unknown>).enable = { roles: ["drop-key-admin"] };
    });
    let r = await w.approved(["enable", offName, "--reason", "false alarm"], [w.alice]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("approvals.enable");
    expect(r.stderr).toContain("the policy changed since its seal in journal entry #1");

    // She lowers the registry rule too and seals with her own signature: the previous seal's rule decides.
    editPolicy(w, (p) => {
      (p.approvals as Record<string, unknown>).registry = { roles: ["drop-key-admin"] };
    });
    r = await w.approved(["policy", "seal", "--reason", "tidy up"], [w.alice]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('rule "registry"');
    expect(r.stderr).toContain("CISO");
    expect(await keyState(off.keyId)).toBe("Disabled");
    expect(w.journal().filter((e) => e.operation === "enable")).toHaveLength(0);
    restore();
  });

  it("edited hold flag: lifting litigationHold is refused before schedule-deletion asks anyone (exit 3 naming the field)", async () => {
    const restore = editPolicy(w, (p) => {
      for (const e of p.inventory as Record<string, unknown>[]) if (e.name === heldName) e.litigationHold = false;
    });
    const r = await w.approved(["schedule-deletion", heldName, "--days", "7", "--reason", "cleanup", "--confirm", `alias/${heldName}`], [w.alice, w.alem]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`inventory[${heldName}].litigationHold`);
    expect(await keyState(held.keyId)).toBe("Enabled");
    restore();
  });

  it("remapped database columns: a changed users.id mapping stops every operation (exit 3 naming database.users.id)", async () => {
    const restore = editPolicy(w, (p) => {
      ((p.database as Record<string, unknown>).users as Record<string, unknown>).id = "national_id";
    });
    const r = await w.cli(["shred-user", "1", "--reason", "DSR-1", "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("database.users.id");
    restore();
    expect((await w.cli(["disable", heldName, "--reason", "check", "--dry-run"])).code).toBe(0);
  });

  it("a request applied into another journal, or under another seal, is refused (exit 3 saying which)", async () => {
    const req = await signedRequest(w, ["enable", offName, "--reason", "false alarm"], [w.alice, w.alem]);
    // Another journal directory, sealed with the same policy by the same people.
    const other = path.join(w.dir, "other-legal");
    const globals = ["--policy", w.policyFile, "--journal", other];
    const sealReq = path.join(w.dir, "other-seal.json");
    expect((await runCli(["policy", "seal", "--request-out", sealReq, ...globals], { env: cliAwsEnv, cwd: w.dir })).code).toBe(0);
    const sealSigs = [w.alem, w.alice].flatMap((a) => ["--approval", signRequest(sealReq, a)]);
    expect((await runCli(["apply", sealReq, ...sealSigs, ...globals], { env: cliAwsEnv, cwd: w.dir })).code).toBe(0);
    let r = await runCli(["apply", req.file, ...req.sigs, ...globals], { env: cliAwsEnv, cwd: w.dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/it was made for journal [0-9a-f]{16}…, but this journal is [0-9a-f]{16}…/);
    expect(r.stderr).not.toContain("made under policy seal");

    // A legitimate re-seal (a new inventory entry) in the original journal: the old request is void.
    const restore = editPolicy(w, (p) => {
      (p.inventory as unknown[]).push(kmsEntry(`extra-${s}`));
    });
    expect((await w.approved(["policy", "seal", "--reason", "new key"], [w.alem, w.alice])).code).toBe(0);
    r = await w.cli(["apply", req.file, ...req.sigs]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/it was made under policy seal [0-9a-f]{16}…, but the seal in force is [0-9a-f]{16}…/);
    expect(await keyState(off.keyId)).toBe("Disabled");
    // The new seal stays: the file now is what was sealed.
    void restore;
  });

  it("an empty-approvals intent and an edited internkontroll.md are detected by log verify --approvals (exit 1 naming the entry)", async () => {
    expect((await w.cli(["log", "verify", "--approvals"])).code).toBe(0);
    const journal = new Journal(w.journalDir);
    const forged = journal.append({ type: "intent", operation: "schedule-deletion", requestId: "0b6f0a46-9f39-4b52-9a55-0f0e9b1e7d10", target: { name: heldName }, actor: { aws: "arn:aws:iam::123456789012:user/alice", osUser: "alice", host: "laptop" }, reason: "cleanup", approvals: [], params: { name: heldName, days: 7 } });
    let r = await w.cli(["log", "verify", "--approvals"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`entry #${forged.seq} (schedule-deletion): no approvals recorded, but rule "schedule-deletion" as sealed then needs drop-key-admin + CISO`);

    const md = path.join(w.journalDir, "internkontroll.md");
    writeFileSync(md, readFileSync(md, "utf8").replace(/- Reason: new key/, "- Reason: requested by the CISO"));
    r = await w.cli(["log", "verify", "--approvals"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/entry #\d+: markdown edited: internkontroll.md: entry #\d+ reads differently from the journal \(line "- Reason: new key" reads "- Reason: requested by the CISO"\)/);
  });
});

describe("the rule comes only from the signed request", () => {
  it("rule switch by flag: a reencrypt request approved under `reencrypt` cannot run as `reencrypt-emergency` with --incident (exit 3)", async () => {
    const s = suffix();
    const [from, to] = [`old-${s}`, `new-${s}`];
    const [oldKey] = await Promise.all([aliasedKey(from), aliasedKey(to)]);
    const w = await makeWorld("rule-switch", {
      inventory: [kmsEntry(from), kmsEntry(to)],
      envelope: { key: to, wrappedDekBytes: "auto" },
      database: dropDatabaseSection("separate", "sqlite:drop.db"),
    });
    const db = await openDatabase(`sqlite:${path.join(w.dir, "drop.db")}`, { create: true });
    await seedDropDatabase(db, { layout: "separate", kms, keyId: oldKey.keyId, users: 5, createSchema: true, dataKeys: 2 });
    await db.close();
    const args = ["reencrypt", "--from", from, "--to", to, "--reason", "INC step 5"];
    // Only the CISO signs a request that needs drop-key-admin + CISO ...
    const req = await signedRequest(w, args, [w.alem]);
    // ... and the flag that would make the CISO alone enough is added when running it.
    const r = await w.cli([...args, "--incident", `INC-20261202-${s.slice(0, 4)}`, "--request", req.file, ...req.sigs]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('it was approved under rule "reencrypt", but this run would need rule "reencrypt-emergency"');
    expect(w.journal().filter((e) => e.operation === "reencrypt")).toHaveLength(0);
  });
});

describe("NODE_OPTIONS", () => {
  it("a mutating command refuses --require / --import / --inspect in NODE_OPTIONS (exit 2, nothing done)", async () => {
    const s = suffix();
    const name = `nodeopts-${s}`;
    const key = await aliasedKey(name);
    const w = await makeWorld("nodeopts", { inventory: [kmsEntry(name)] });
    const preload = path.join(w.dir, "preload.cjs");
    writeFileSync(preload, "// an insider's patch would go here\n");
    for (const option of [`--require=${preload}`, `--import=${preload}`, "--inspect=127.0.0.1:0"]) {
      const r = await w.cli(["disable", name, "--reason", "test"], { NODE_OPTIONS: option });
      expect(r.code, `${option}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain("NODE_OPTIONS carries");
    }
    expect(await keyState(key.keyId)).toBe("Enabled");
    // Read-only commands are not affected.
    expect((await w.cli(["log", "verify"], { NODE_OPTIONS: `--require=${preload}` })).code).toBe(0);
  });
});
