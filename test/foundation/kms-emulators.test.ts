// The same KMS key-state rules, run against both KMS emulators of the test setup: the strict moto
// (moto plus scripts/emulators/moto_kms_strict.py) and local-kms. They are independent
// implementations, so a rule that holds on both is far more likely to hold on AWS. The expected
// answers are AWS's (shared/EMULATORS.md); where local-kms answers otherwise, the test says so
// and pins local-kms's answer, so that a change in either emulator is noticed.
import {
  CancelKeyDeletionCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  ReEncryptCommand,
  ScheduleKeyDeletionCommand,
  type KMSClient,
} from "@aws-sdk/client-kms";
import { describe, expect, it } from "vitest";
import { KMS_EMULATORS } from "../support/kms-emulators.js";

const errorName = async (promise: Promise<unknown>) => promise.then(() => "no error", (e: Error) => e.name);
// AWS answers either for a key pending deletion (shared/EMULATORS.md): accept both.
const PENDING_DELETION_REFUSALS = ["KMSInvalidStateException", "DisabledException"];

describe.each(KMS_EMULATORS)("KMS key-state rules on $name", ({ name, client }) => {
  const kms: KMSClient = client("eu-north-1");
  const isLocalKms = name === "local-kms";

  async function newKey(): Promise<{ keyId: string; arn: string; ciphertext: Uint8Array }> {
    const meta = (await kms.send(new CreateKeyCommand({ Description: `kms-emulators ${name}` }))).KeyMetadata!;
    const ciphertext = (await kms.send(new EncryptCommand({ KeyId: meta.KeyId, Plaintext: Buffer.from("canary") }))).CiphertextBlob!;
    return { keyId: meta.KeyId!, arn: meta.Arn!, ciphertext };
  }
  const state = async (keyId: string) => (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
  const decrypt = (ciphertext: Uint8Array, keyId?: string) => kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, ...(keyId ? { KeyId: keyId } : {}) }));

  it("a Disabled key refuses Encrypt, GenerateDataKey and Decrypt; enabled again, it decrypts what it encrypted before", async () => {
    const { keyId, ciphertext } = await newKey();
    await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    expect((await state(keyId)).KeyState).toBe("Disabled");
    expect(await errorName(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("x") })))).toBe("DisabledException");
    expect(await errorName(kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256" })))).toBe("DisabledException");
    expect(await errorName(decrypt(ciphertext, keyId))).toBe("DisabledException");
    // Decrypt without KeyId: AWS answers DisabledException; local-kms hides every key problem of
    // a KeyId-less Decrypt behind AccessDeniedException (shared/EMULATORS.md). Still a refusal.
    expect(await errorName(decrypt(ciphertext))).toBe(isLocalKms ? "AccessDeniedException" : "DisabledException");
    await kms.send(new EnableKeyCommand({ KeyId: keyId }));
    expect(Buffer.from((await decrypt(ciphertext)).Plaintext!).toString()).toBe("canary");
  });

  it("ReEncrypt fails from a disabled source key and into a disabled destination key", async () => {
    const source = await newKey();
    const destination = await newKey();
    await kms.send(new DisableKeyCommand({ KeyId: source.keyId }));
    expect(await errorName(kms.send(new ReEncryptCommand({ CiphertextBlob: source.ciphertext, DestinationKeyId: destination.keyId })))).toBe("DisabledException");
    await kms.send(new EnableKeyCommand({ KeyId: source.keyId }));
    await kms.send(new DisableKeyCommand({ KeyId: destination.keyId }));
    expect(await errorName(kms.send(new ReEncryptCommand({ CiphertextBlob: source.ciphertext, DestinationKeyId: destination.keyId })))).toBe("DisabledException");
    // Both usable again: the same call succeeds, so the refusals above were about key state.
    await kms.send(new EnableKeyCommand({ KeyId: destination.keyId }));
    const moved = await kms.send(new ReEncryptCommand({ CiphertextBlob: source.ciphertext, DestinationKeyId: destination.keyId }));
    expect(Buffer.from((await decrypt(moved.CiphertextBlob!, destination.keyId)).Plaintext!).toString()).toBe("canary");
  });

  it("refuses a deletion window of 6 or 31 days and leaves the key as it was", async () => {
    const { keyId } = await newKey();
    for (const days of [6, 31]) {
      expect(await errorName(kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: days })))).toBe("ValidationException");
    }
    const meta = await state(keyId);
    expect(meta.KeyState).toBe("Enabled");
    expect(meta.DeletionDate).toBeUndefined();
  });

  it("a key pending deletion refuses Encrypt and Decrypt, and refuses EnableKey, DisableKey and a second schedule", async () => {
    const { keyId, arn, ciphertext } = await newKey();
    const before = Date.now();
    // By ARN: AWS accepts the ARN wherever it accepts the key id.
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: arn, PendingWindowInDays: 7 }));
    const meta = await state(keyId);
    expect(meta.KeyState).toBe("PendingDeletion");
    // Whole seconds on local-kms: allow a little either side of exactly 7 days.
    const days = (meta.DeletionDate!.getTime() - before) / 86_400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThan(7.01);
    expect(PENDING_DELETION_REFUSALS).toContain(await errorName(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("x") }))));
    expect(PENDING_DELETION_REFUSALS).toContain(await errorName(decrypt(ciphertext, keyId)));
    // Without KeyId local-kms again answers AccessDeniedException (see the Disabled case).
    expect([...PENDING_DELETION_REFUSALS, ...(isLocalKms ? ["AccessDeniedException"] : [])]).toContain(await errorName(decrypt(ciphertext)));
    expect(await errorName(kms.send(new EnableKeyCommand({ KeyId: keyId })))).toBe("KMSInvalidStateException");
    expect(await errorName(kms.send(new DisableKeyCommand({ KeyId: keyId })))).toBe("KMSInvalidStateException");
    expect(await errorName(kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 30 })))).toBe("KMSInvalidStateException");
    expect((await state(keyId)).DeletionDate!.getTime()).toBe(meta.DeletionDate!.getTime());
  });

  it("CancelKeyDeletion ends the pending deletion and leaves the key Disabled (local-kms: Enabled, unlike AWS)", async () => {
    const { keyId, ciphertext } = await newKey();
    expect(await errorName(kms.send(new CancelKeyDeletionCommand({ KeyId: keyId })))).toBe("KMSInvalidStateException");
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    await kms.send(new CancelKeyDeletionCommand({ KeyId: keyId }));
    const meta = await state(keyId);
    expect(meta.DeletionDate).toBeUndefined();
    if (isLocalKms) {
      // local-kms (cancel_key_deletion.go) re-enables the key; AWS and the strict moto leave it
      // Disabled. dropkeys' cancel-deletion verification therefore fails on local-kms, rightly.
      expect(meta.KeyState).toBe("Enabled");
      expect(Buffer.from((await decrypt(ciphertext, keyId)).Plaintext!).toString()).toBe("canary");
    } else {
      expect(meta.KeyState).toBe("Disabled");
      expect(await errorName(decrypt(ciphertext, keyId))).toBe("DisabledException");
    }
  });

  it("keeps each region's keys in that region's endpoint", async () => {
    const { keyId } = await newKey();
    expect(await errorName(client("eu-west-1").send(new DescribeKeyCommand({ KeyId: keyId })))).toBe("NotFoundException");
    const west = (await client("eu-west-1").send(new CreateKeyCommand({}))).KeyMetadata!;
    expect(west.Arn).toContain(":eu-west-1:123456789012:key/");
  });
});
