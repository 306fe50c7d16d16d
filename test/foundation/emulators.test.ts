// The KMS emulator models AWS's key states, which is what lets the other tests check our
// verifications: a disabled key refuses Decrypt, a key pending deletion refuses it too, and a
// deletion window outside 7-30 days is refused. These run against the real emulator servers.
import { createHash, createPublicKey, verify } from "node:crypto";
import {
  CancelKeyDeletionCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GetPublicKeyCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
} from "@aws-sdk/client-kms";
import { beforeAll, describe, expect, it } from "vitest";
import { kmsClient } from "../support/aws.js";

const kms = kmsClient("eu-north-1");
const errorName = async (promise: Promise<unknown>) => promise.then(() => "no error", (e: Error) => e.name);

describe("the KMS emulator keeps AWS's key-state rules", () => {
  let keyId: string;
  let ciphertext: Uint8Array;
  beforeAll(async () => {
    keyId = (await kms.send(new CreateKeyCommand({ Description: "emulator-test" }))).KeyMetadata!.KeyId!;
    ciphertext = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("canary") }))).CiphertextBlob!;
  });

  it("refuses Decrypt and Encrypt with a disabled key (DisabledException), and allows them again once enabled", async () => {
    await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    expect(await errorName(kms.send(new DecryptCommand({ CiphertextBlob: ciphertext })))).toBe("DisabledException");
    expect(await errorName(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("x") })))).toBe("DisabledException");
    await kms.send(new EnableKeyCommand({ KeyId: keyId }));
    const plain = await kms.send(new DecryptCommand({ CiphertextBlob: ciphertext }));
    expect(Buffer.from(plain.Plaintext!).toString()).toBe("canary");
  });

  it("refuses a deletion window of 6 or 31 days, and decrypts nothing while deletion is pending", async () => {
    expect(await errorName(kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 6 })))).toBe("ValidationException");
    expect(await errorName(kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 31 })))).toBe("ValidationException");
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState).toBe("Enabled");
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    expect(await errorName(kms.send(new DecryptCommand({ CiphertextBlob: ciphertext })))).toBe("KMSInvalidStateException");
    expect(await errorName(kms.send(new EnableKeyCommand({ KeyId: keyId })))).toBe("KMSInvalidStateException");
    // Cancelling leaves the key Disabled, as on AWS.
    await kms.send(new CancelKeyDeletionCommand({ KeyId: keyId }));
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState).toBe("Disabled");
  });

  it("keeps each region's keys in that region's endpoint", async () => {
    expect(await errorName(kmsClient("eu-west-1").send(new DescribeKeyCommand({ KeyId: keyId })))).toBe("NotFoundException");
  });

  it("signs a DIGEST message so that the signature verifies offline over the original message", async () => {
    const signer = (await kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }))).KeyMetadata!.KeyId!;
    const message = Buffer.from("x".repeat(5000));
    const digest = createHash("sha256").update(message).digest();
    const { Signature } = await kms.send(new SignCommand({ KeyId: signer, Message: digest, MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256" }));
    const { PublicKey } = await kms.send(new GetPublicKeyCommand({ KeyId: signer }));
    const publicKey = createPublicKey({ key: Buffer.from(PublicKey!), format: "der", type: "spki" });
    expect(verify("sha256", message, publicKey, Buffer.from(Signature!))).toBe(true);
  });
});
