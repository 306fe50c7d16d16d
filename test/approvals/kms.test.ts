// The KMS signer against the strict KMS emulator (real ECDSA P-256; DIGEST handled as AWS does):
// approve with an approver's own profile, verify with the public key the sealed policy carries,
// RAW up to 4096 bytes and DIGEST beyond, and refuse a key that is not the approver's.
import { createPublicKey, sign } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CreateKeyCommand, GetPublicKeyCommand, SignCommand } from "@aws-sdk/client-kms";
import { beforeAll, describe, expect, it } from "vitest";
import { kmsPublicKey, kmsSign, KMS_APPROVAL_FORMAT, spkiFingerprint, verifyKmsSignature } from "../../src/lib/approvals/kms.js";
import { AwsClients } from "../../src/lib/aws/clients.js";
import { makeSshApprover, signRequest, type TestApprover } from "../support/approvers.js";
import { cliAwsEnv, kmsClient } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { emulatorEndpoints, writePolicy } from "../support/policy.js";

const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-approvals-kms-"));
let alemKey: string;
let alemPem: string;
let otherKey: string;
let alice: TestApprover;
let aws: AwsClients;

async function signingKey(): Promise<string> {
  const out = await kmsClient("eu-north-1").send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY", Description: "approver key" }));
  return out.KeyMetadata!.Arn!;
}

beforeAll(async () => {
  [alemKey, otherKey] = await Promise.all([signingKey(), signingKey()]);
  const spki = Buffer.from((await kmsClient().send(new GetPublicKeyCommand({ KeyId: alemKey }))).PublicKey!);
  alemPem = createPublicKey({ key: spki, format: "der", type: "spki" }).export({ format: "pem", type: "spki" }) as string;
  alice = makeSshApprover(dir, "alice", ["drop-key-admin"]);
  aws = new AwsClients({ endpoints: emulatorEndpoints() as never, maxAttempts: 1 });
  // alem signs with his own profile, as he would on his laptop.
  writeFileSync(path.join(dir, "credentials"), "[alem]\naws_access_key_id = test\naws_secret_access_key = test\n");
  writeFileSync(path.join(dir, "config"), "[profile alem]\nregion = eu-north-1\n");
});

function setup(kmsPublicKeyPem: string | undefined = alemPem) {
  const work = mkdtempSync(path.join(dir, "case-"));
  const approvers = [
    { name: "alem", email: "ciso@drop.example", roles: ["CISO"], kms: alemKey, ...(kmsPublicKeyPem ? { kmsPublicKey: kmsPublicKeyPem } : {}) },
    { name: "alice", email: alice.email, roles: alice.roles, ssh: alice.publicKey },
  ];
  const policyFile = writePolicy(work, { inventory: [{ name: "k1", kind: "kms-key", rotation: "annual" }], approvers, approvals: { registry: { roles: ["CISO", "drop-key-admin"] } } });
  const env = { ...cliAwsEnv, AWS_SHARED_CREDENTIALS_FILE: path.join(dir, "credentials"), AWS_CONFIG_FILE: path.join(dir, "config") };
  const cli = (args: string[]) => runCli([...args, "--policy", policyFile, "--journal", path.join(work, "legal")], { env, cwd: work });
  return { work, cli, journal: path.join(work, "legal", "internkontroll.jsonl") };
}

describe("KMS approvals", () => {
  it("approve --kms-profile signs with the approver's KMS key (RAW); apply verifies it with the sealed public key and journals it", async () => {
    const { work, cli, journal } = setup();
    const req = path.join(work, "seal.json");
    expect((await cli(["approvers", "seal", "--request-out", req])).code).toBe(0);
    const approval = path.join(work, "alem.approval");
    // The profile is really used: one that does not exist cannot sign.
    let r = await cli(["approve", req, "--as", "alem", "--kms-profile", "nobody", "--out", approval]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`KMS could not sign with ${alemKey}`);
    r = await cli(["approve", req, "--as", "alem", "--kms-profile", "alem", "--out", approval]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(approval, "utf8")) as Record<string, string>;
    expect(doc).toMatchObject({ format: KMS_APPROVAL_FORMAT, approver: "alem", keyArn: alemKey, messageType: "RAW", algorithm: "ECDSA_SHA_256" });

    r = await cli(["apply", req, "--approval", approval, "--approval", signRequest(req, alice)]);
    expect(r.code, r.stderr).toBe(0);
    const intent = JSON.parse(readFileSync(journal, "utf8").split("\n")[0]!) as { approvals: Record<string, string>[] };
    const spki = (await kmsClient().send(new GetPublicKeyCommand({ KeyId: alemKey }))).PublicKey!;
    const expectedFp = spkiFingerprint(createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }));
    expect(intent.approvals[0]).toMatchObject({ approver: "alem", role: "CISO", signer: "kms", fingerprint: expectedFp, signature: doc.signature });
    expect((await cli(["log", "verify", "--approvals"])).code).toBe(0);
  });

  it("refuses a KMS approval made with a key that is not registered to that approver", async () => {
    const { work, cli } = setup();
    const req = path.join(work, "seal.json");
    expect((await cli(["approvers", "seal", "--request-out", req])).code).toBe(0);
    const message = readFileSync(req);
    const id = (JSON.parse(message.toString()) as { id: string }).id;
    const signed = await kmsSign(aws, otherKey, message);
    const forged = path.join(work, "forged.approval");
    const doc = { format: KMS_APPROVAL_FORMAT, approver: "alem", keyArn: otherKey, requestId: id, algorithm: "ECDSA_SHA_256", ...signed };
    writeFileSync(forged, JSON.stringify(doc));
    let r = await cli(["apply", req, "--approval", forged, "--approval", signRequest(req, alice)]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`approval forged.approval: the KMS key ${otherKey} is not registered to alem (registered: ${alemKey})`);

    // The same signature passed off under alem's own ARN does not verify with alem's key.
    writeFileSync(forged, JSON.stringify({ ...doc, keyArn: alemKey }));
    r = await cli(["apply", req, "--approval", forged, "--approval", signRequest(req, alice)]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/the KMS signature of alem does not verify over request/);
  });

  it("verifies with the policy's kmsPublicKey when given (no GetPublicKey), and fails with the wrong one", async () => {
    const spki = Buffer.from((await kmsClient().send(new GetPublicKeyCommand({ KeyId: alemKey }))).PublicKey!);
    const pem = createPublicKey({ key: spki, format: "der", type: "spki" }).export({ format: "pem", type: "spki" }) as string;
    const fromPolicy = await kmsPublicKey(aws, "arn:aws:kms:eu-north-1:123456789012:key/not-asked", pem);
    expect(spkiFingerprint(fromPolicy)).toBe(spkiFingerprint(await kmsPublicKey(aws, alemKey, undefined)));
    const base64Der = await kmsPublicKey(aws, alemKey, spki.toString("base64"));
    const message = Buffer.from('{"id":"x"}\n');
    const { signature } = await kmsSign(aws, alemKey, message);
    expect(verifyKmsSignature(base64Der, message, signature)).toBe(true);
    const otherSpki = Buffer.from((await kmsClient().send(new GetPublicKeyCommand({ KeyId: otherKey }))).PublicKey!);
    const wrong = await kmsPublicKey(aws, alemKey, otherSpki.toString("base64"));
    expect(verifyKmsSignature(wrong, message, signature)).toBe(false);

    // End to end: the approval verifies against the PEM in the policy.
    const { work, cli } = setup(pem);
    const req = path.join(work, "seal.json");
    expect((await cli(["approvers", "seal", "--request-out", req])).code).toBe(0);
    const approval = path.join(work, "alem.approval");
    expect((await cli(["approve", req, "--as", "alem", "--kms-profile", "alem", "--out", approval])).code).toBe(0);
    expect((await cli(["apply", req, "--approval", approval, "--approval", signRequest(req, alice)])).code).toBe(0);
  });

  it("signs up to 4096 bytes as RAW and longer requests as their SHA-256 DIGEST; both verify offline", async () => {
    const key = await kmsPublicKey(aws, alemKey, undefined);
    for (const [size, type] of [
      [4096, "RAW"],
      [4097, "DIGEST"],
      [20_000, "DIGEST"],
    ] as const) {
      const message = Buffer.alloc(size, "a");
      const signed = await kmsSign(aws, alemKey, message);
      expect(signed.messageType).toBe(type);
      expect(verifyKmsSignature(key, message, signed.signature)).toBe(true);
      expect(verifyKmsSignature(key, Buffer.alloc(size, "b"), signed.signature)).toBe(false);
    }
  });

  it("a signature by a local key (not KMS) in a KMS approval does not verify", async () => {
    // Guards the verifier itself: a valid ECDSA signature by some other P-256 key is refused.
    const { generateKeyPairSync } = await import("node:crypto");
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const message = Buffer.from("request\n");
    const local = sign("sha256", message, privateKey).toString("base64");
    expect(verifyKmsSignature(await kmsPublicKey(aws, alemKey, undefined), message, local)).toBe(false);
    // and KMS's own signature through the SDK verifies, as a control
    const out = await kmsClient().send(new SignCommand({ KeyId: alemKey, Message: message, MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256" }));
    expect(verifyKmsSignature(await kmsPublicKey(aws, alemKey, undefined), message, Buffer.from(out.Signature!).toString("base64"))).toBe(true);
  });
});
