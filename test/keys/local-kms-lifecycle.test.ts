// dropkeys' KMS lifecycle against local-kms, a second KMS implementation independent of the
// strict moto the other tests use: the policy's KMS endpoints point at local-kms (Secrets
// Manager, S3 and STS stay on moto), the CLI runs generate, disable, enable, schedule-deletion
// and cancel-deletion with real approvals, and every state is read back from local-kms. What
// this proves: dropkeys' verifications (key state, a fresh Encrypt, the canary Decrypt) are
// right on a KMS whose key-state rules were not written for these tests.
import { DecryptCommand, DescribeKeyCommand, EncryptCommand, type KeyMetadata } from "@aws-sdk/client-kms";
import { beforeAll, describe, expect, it } from "vitest";
import { kmsClient } from "../support/aws.js";
import { localKmsClient, localKmsUrl } from "../support/kms-emulators.js";
import { emulatorEndpoints } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "./setup.js";

// local-kms starts empty on every test run and only this file makes aliases in it.
const NAME = "drop-kyc-key";
const ALIAS = `alias/${NAME}`;
const CANARY_CONTEXT = { "dropkeys-canary": "1" };
const kms = localKmsClient("eu-north-1");
let w: World;

interface JournalEntry {
  type: string;
  operation: string;
  outcome?: string;
  verification?: { result: string; method: string; detail: string };
  details?: { keyId?: string; canary?: string; deletionDate?: string; state?: string };
}

const describeAlias = async (): Promise<KeyMetadata> => (await kms.send(new DescribeKeyCommand({ KeyId: ALIAS }))).KeyMetadata!;
const errorName = async (promise: Promise<unknown>) => promise.then(() => "no error", (e: Error) => e.name);
const entries = () => w.journal() as unknown as JournalEntry[];
const lastOutcome = (operation: string) => entries().filter((e) => e.operation === operation && e.type === "outcome").at(-1)!;
/** The newest canary ciphertext dropkeys journalled for the key. */
const journalCanary = () => Buffer.from(entries().map((e) => e.details?.canary).filter(Boolean).at(-1)!, "base64");
const decryptCanary = async (keyId: string) => {
  const out = await kms.send(new DecryptCommand({ CiphertextBlob: journalCanary(), KeyId: keyId, EncryptionContext: CANARY_CONTEXT }));
  return Buffer.from(out.Plaintext!).toString();
};

beforeAll(async () => {
  const endpoints = emulatorEndpoints();
  w = await makeWorld("keys-local-kms", {
    endpoints: { ...endpoints, kms: { "eu-north-1": localKmsUrl("eu-north-1"), "eu-west-1": localKmsUrl("eu-west-1") } },
    inventory: [kmsEntry(NAME)],
    // Bounded well inside the test timeout, so a verification that never passes is reported by
    // dropkeys (exit 1, journalled) rather than cut off; on local-kms the first check passes.
    disableVerifyTimeout: "30s",
  });
});

describe("the key lifecycle through dropkeys on local-kms", () => {
  let keyId: string;

  it("generate creates the key in local-kms (not in the strict moto), verified by a canary round trip", async () => {
    const r = await w.approved(["generate", NAME, "--reason", "KYC documents key"]);
    expect(r.code, r.stderr).toBe(0);
    const key = await describeAlias();
    keyId = key.KeyId!;
    expect(key.KeyState).toBe("Enabled");
    expect(key.Arn).toBe(`arn:aws:kms:eu-north-1:123456789012:key/${keyId}`);
    expect(await errorName(kmsClient("eu-north-1").send(new DescribeKeyCommand({ KeyId: ALIAS })))).toBe("NotFoundException");
    expect(lastOutcome("generate")).toMatchObject({ outcome: "succeeded", verification: { result: "passed" }, details: { keyId } });
  });

  it("disable: local-kms shows Disabled, refuses a fresh Encrypt and the canary; the journal's verification says exactly that", async () => {
    const r = await w.approved(["disable", NAME, "--reason", "key ARN in a CI log", "--incident", "INC-LOCALKMS-1"], [w.alem]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Disabled ${NAME}`);
    expect((await describeAlias()).KeyState).toBe("Disabled");
    expect(await errorName(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("x") })))).toBe("DisabledException");
    expect(await errorName(decryptCanary(keyId))).toBe("DisabledException");
    const outcome = lastOutcome("disable");
    expect(outcome).toMatchObject({ outcome: "succeeded", verification: { result: "passed" } });
    expect(outcome.verification!.detail).toMatch(/KeyState Disabled.*Encrypt refused \(DisabledException\).*canary Decrypt refused \(DisabledException\)/);
  });

  it("enable: local-kms shows Enabled and the canary decrypts again", async () => {
    const r = await w.approved(["enable", NAME, "--reason", "false alarm"]);
    expect(r.code, r.stderr).toBe(0);
    expect((await describeAlias()).KeyState).toBe("Enabled");
    expect(await decryptCanary(keyId)).toBe("dropkeys canary: not a secret");
    expect(lastOutcome("enable")).toMatchObject({ outcome: "succeeded", verification: { result: "passed" } });
  });

  it("schedule-deletion --days 7: local-kms shows PendingDeletion in 7 days and refuses the canary; the journal records it", async () => {
    const started = Date.now();
    const r = await w.approved(["schedule-deletion", NAME, "--days", "7", "--reason", "replaced", "--confirm", ALIAS]);
    expect(r.code, r.stderr).toBe(0);
    const key = await describeAlias();
    expect(key.KeyState).toBe("PendingDeletion");
    const days = (key.DeletionDate!.getTime() - started) / 86_400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThan(7.01);
    expect(await errorName(decryptCanary(keyId))).toBe("KMSInvalidStateException");
    const outcome = lastOutcome("schedule-deletion");
    expect(outcome).toMatchObject({ outcome: "succeeded", verification: { result: "passed" }, details: { keyId, deletionDate: key.DeletionDate!.toISOString() } });
    expect(outcome.verification!.detail).toMatch(/KeyState PendingDeletion.*canary Decrypt refused \(KMSInvalidStateException\)/);
  });

  it("cancel-deletion: local-kms re-enables the key where AWS leaves it Disabled, and dropkeys' verification says so (exit 1)", async () => {
    const r = await w.approved(["cancel-deletion", NAME, "--reason", "kept for the audit"], [w.alice]);
    // The deletion is cancelled on local-kms ...
    const key = await describeAlias();
    expect(key.DeletionDate).toBeUndefined();
    // ... but local-kms re-enables the key (shared/EMULATORS.md, tested in
    // test/foundation/kms-emulators.test.ts), and dropkeys checks for AWS's Disabled: the
    // outcome is journalled as failed with the state it read, instead of a false "succeeded".
    expect(key.KeyState).toBe("Enabled");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("verification failed");
    const outcome = lastOutcome("cancel-deletion");
    expect(outcome).toMatchObject({ outcome: "failed", verification: { result: "failed" }, details: { keyId, state: "Enabled" } });
    expect(outcome.verification!.detail).toBe(`key ${keyId}: KeyState Enabled, no deletion date`);
  });
});
