// The two-person rule against an insider: one security engineer (alice) with a shell, the AWS
// credentials dropkeys uses, write access to the policy file and the journal directory, and her
// own registered SSH key, but no other approver's private key. Each attack is done as she would
// do it, through the built CLI against the emulators, and must end refused before anything
// happens (exit 3 for approvals, seals and bindings) or detected (`log verify` exit 1 naming the
// entry and the kind of change).
import { createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, GetPublicKeyCommand } from "@aws-sdk/client-kms";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { kmsSign, KMS_APPROVAL_FORMAT } from "../../src/lib/approvals/kms.js";
import { AwsClients } from "../../src/lib/aws/clients.js";
import { openDatabase } from "../../src/lib/db/index.js";
import { dropDatabaseSection, seedDropDatabase } from "../../src/lib/envelope/seed.js";
import { Journal } from "../../src/lib/journal/journal.js";
import { makeSshApprover, signRequest } from "../support/approvers.js";
import { cliAwsEnv, kmsClient, kmsUrl } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { emulatorEndpoints, suffix, writePolicy } from "../support/policy.js";
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

  it("a pinned journal id: a first-use seal in a fresh directory is refused (exit 3)", async () => {
    const id = w.journal()[0]!.hash as string;
    editPolicy(w, (p) => {
      p.journal = { id };
    });
    expect((await w.approved(["policy", "seal", "--reason", "pin the journal"], [w.alem, w.alice])).code).toBe(0);
    const fresh = path.join(w.dir, "fresh-legal");
    const r = await runCli(["policy", "seal", "--request-out", path.join(w.dir, "fresh.json"), "--policy", w.policyFile, "--journal", fresh], { env: cliAwsEnv, cwd: w.dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`the policy pins journal ${id.slice(0, 16)}…, but this journal is empty`);
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

/** The insider's KMS "endpoint": forwards to the real one, but answers GetPublicKey with her own key. */
async function swappingProxy(attackerKeyArn: string): Promise<{ server: Server; url: string; publicKeyCalls: () => number }> {
  let calls = 0;
  const upstream = kmsUrl("eu-north-1");
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body = Buffer.concat(chunks).toString("utf8");
      if (req.headers["x-amz-target"] === "TrentService.GetPublicKey") {
        calls++;
        body = JSON.stringify({ ...(JSON.parse(body) as object), KeyId: attackerKeyArn });
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !["host", "content-length", "connection"].includes(k))) as Record<string, string>;
      fetch(upstream, { method: req.method ?? "POST", headers, body })
        .then(async (answer) => {
          res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/x-amz-json-1.1" });
          res.end(Buffer.from(await answer.arrayBuffer()));
        })
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, publicKeyCalls: () => calls };
}

describe("KMS approvers are verified only with the public key the seal carries", () => {
  it("an unpinned KMS approver cannot be sealed (exit 2); a forged approval behind a key-swapping endpoint is refused (exit 3) and the endpoint is never asked", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-kms-proxy-"));
    const s = suffix();
    const name = `proxy-${s}`;
    const target = await aliasedKey(name);
    await kms.send(new DisableKeyCommand({ KeyId: target.keyId }));
    const signing = async () => (await kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }))).KeyMetadata!.Arn!;
    const [alemKey, attackerKey] = await Promise.all([signing(), signing()]);
    const alemSpki = Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: alemKey }))).PublicKey!);
    const alemPem = createPublicKey({ key: alemSpki, format: "der", type: "spki" }).export({ format: "pem", type: "spki" }) as string;
    const alice = makeSshApprover(dir, "alice", ["drop-key-admin"]);
    const approvers = (pin: boolean) => [
      { name: "alem", email: "ciso@drop.example", roles: ["CISO"], kms: alemKey, ...(pin ? { kmsPublicKey: alemPem } : {}) },
      { name: "alice", email: alice.email, roles: alice.roles, ssh: alice.publicKey },
    ];
    const base = { inventory: [{ name, kind: "kms-key", rotation: "annual" }], approvals: { registry: { roles: ["CISO", "*"] }, enable: { roles: ["drop-key-admin", "CISO"] } } };
    const g = (policyFile: string) => ["--policy", policyFile, "--journal", path.join(dir, "legal")];
    const cli = (args: string[], policyFile: string) => runCli([...args, ...g(policyFile)], { env: cliAwsEnv, cwd: dir });
    const aws = new AwsClients({ endpoints: emulatorEndpoints() as never, maxAttempts: 1 });
    const kmsApproval = async (file: string, keyArn: string, signWith: string) => {
      const message = readFileSync(file);
      const signed = await kmsSign(aws, signWith, message);
      const out = `${file}.alem.approval`;
      writeFileSync(out, JSON.stringify({ format: KMS_APPROVAL_FORMAT, approver: "alem", keyArn, requestId: (JSON.parse(message.toString()) as { id: string }).id, algorithm: "ECDSA_SHA_256", ...signed }));
      return out;
    };

    // Without the key in the policy there is nothing to seal.
    const unpinned = writePolicy(dir, { ...base, approvers: approvers(false) }, "unpinned.yaml");
    let r = await cli(["policy", "seal", "--request-out", path.join(dir, "x.json")], unpinned);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("KMS approver(s) alem have no kmsPublicKey");

    // Sealed with alem's real public key (alem signs with his KMS key, alice with her SSH key).
    const policyFile = writePolicy(dir, { ...base, approvers: approvers(true) });
    const sealReq = path.join(dir, "seal.json");
    expect((await cli(["policy", "seal", "--request-out", sealReq], policyFile)).code).toBe(0);
    r = await cli(["apply", sealReq, "--approval", await kmsApproval(sealReq, alemKey, alemKey), "--approval", signRequest(sealReq, alice)], policyFile);
    expect(r.code, r.stderr).toBe(0);

    // alice points the KMS endpoint (not sealed: it is how dropkeys reaches AWS) at her proxy and
    // passes off a signature of her own key as alem's.
    const proxy = await swappingProxy(attackerKey);
    try {
      const endpoints = emulatorEndpoints() as { kms: Record<string, string> };
      const edited = readFileSync(policyFile, "utf8");
      const policy = parse(edited) as { endpoints: { kms: Record<string, string> } };
      policy.endpoints.kms = { ...endpoints.kms, "eu-north-1": proxy.url };
      writeFileSync(policyFile, stringify(policy));
      const req = path.join(dir, "enable.json");
      r = await cli(["enable", name, "--reason", "false alarm", "--request-out", req], policyFile);
      expect(r.code, r.stderr).toBe(0);
      r = await cli(["apply", req, "--approval", await kmsApproval(req, alemKey, attackerKey), "--approval", signRequest(req, alice)], policyFile);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain("the KMS signature of alem does not verify over request");
      expect(proxy.publicKeyCalls()).toBe(0);
      expect(await keyState(target.keyId)).toBe("Disabled");
    } finally {
      proxy.server.close();
    }
  });
});
