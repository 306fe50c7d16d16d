// The KMS signer: an approver's own asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY), used with
// their own AWS profile (and MFA), so every approval is also in CloudTrail. KMS signs at most
// 4096 bytes as RAW; longer requests are signed as their SHA-256 DIGEST, the same signature.
import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";
import { GetPublicKeyCommand, SignCommand } from "@aws-sdk/client-kms";
import type { AwsClients } from "../aws/clients.js";
import { approvalError, awsErrorName, failure, isDropkeysError } from "../errors.js";

export const KMS_APPROVAL_FORMAT = "dropkeys-kms-approval-v1";
const RAW_LIMIT = 4096;

/** What `dropkeys approve --kms-profile` writes: who, with which key, and the DER signature. */
export interface KmsApproval {
  format: typeof KMS_APPROVAL_FORMAT;
  approver: string;
  keyArn: string;
  requestId: string;
  algorithm: "ECDSA_SHA_256";
  messageType: "RAW" | "DIGEST";
  signature: string;
}

export function isKmsApprovalText(text: string): boolean {
  return text.trimStart().startsWith("{") && text.includes(KMS_APPROVAL_FORMAT);
}

/** Parse a KMS approval file; returns a reason string when it is malformed. */
export function parseKmsApproval(text: string): KmsApproval | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "it is not complete JSON (cut off?)";
  }
  const v = value as Partial<KmsApproval> | null;
  if (!v || typeof v !== "object" || v.format !== KMS_APPROVAL_FORMAT) return `it is not a ${KMS_APPROVAL_FORMAT} document`;
  for (const field of ["approver", "keyArn", "requestId", "signature"] as const) {
    if (typeof v[field] !== "string" || v[field] === "") return `its "${field}" is missing`;
  }
  if (v.algorithm !== "ECDSA_SHA_256") return `unsupported algorithm "${String(v.algorithm)}"`;
  if (v.messageType !== "RAW" && v.messageType !== "DIGEST") return `unsupported message type "${String(v.messageType)}"`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(v.signature!)) return "its signature is not base64";
  return v as KmsApproval;
}

export function regionOfArn(arn: string): string {
  const region = arn.split(":")[3];
  if (!region) throw approvalError(`"${arn}" is not a KMS key ARN`, { code: "approval.kms-arn" });
  return region;
}

/** The approver's public key: from the policy (PEM or base64 DER), else KMS GetPublicKey. */
export async function kmsPublicKey(aws: AwsClients, keyArn: string, configured: string | undefined): Promise<KeyObject> {
  if (configured) {
    const text = configured.trim();
    return p256(
      text.startsWith("-----BEGIN") ? createPublicKey(text) : createPublicKey({ key: Buffer.from(text, "base64"), format: "der", type: "spki" }),
      keyArn,
    );
  }
  try {
    const out = await aws.kms(regionOfArn(keyArn)).send(new GetPublicKeyCommand({ KeyId: keyArn }));
    if (out.KeyUsage !== "SIGN_VERIFY" || !out.PublicKey) {
      throw approvalError(`the KMS key ${keyArn} is a ${out.KeyUsage ?? "?"} key, not a SIGN_VERIFY key`, { code: "approval.kms-key-spec" });
    }
    return p256(createPublicKey({ key: Buffer.from(out.PublicKey), format: "der", type: "spki" }), keyArn);
  } catch (error) {
    if (isDropkeysError(error)) throw error;
    throw failure(`cannot read the public key of ${keyArn} (KMS GetPublicKey): ${awsErrorName(error) ?? (error as Error).message}`, {
      code: "approval.kms-public-key",
      hint: "Put the key's public key in the approver's `kmsPublicKey` in the policy, or check AWS access.",
      cause: error,
    });
  }
}

/** Approver keys are ECC_NIST_P256: anything else is a misconfiguration, said plainly. */
function p256(key: KeyObject, keyArn: string): KeyObject {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw approvalError(`the public key of ${keyArn} is not an ECC_NIST_P256 key (${key.asymmetricKeyType ?? "?"} ${key.asymmetricKeyDetails?.namedCurve ?? ""})`, {
      code: "approval.kms-key-spec",
    });
  }
  return key;
}

export function spkiFingerprint(key: KeyObject): string {
  const der = key.export({ format: "der", type: "spki" });
  return "SHA256:" + createHash("sha256").update(der).digest("base64").replace(/=+$/, "");
}

/** ECDSA_SHA_256 is a signature over SHA-256(message) in both message types. */
export function verifyKmsSignature(key: KeyObject, message: Buffer, signatureBase64: string): boolean {
  try {
    return verify("sha256", message, key, Buffer.from(signatureBase64, "base64"));
  } catch {
    return false;
  }
}

export async function kmsSign(aws: AwsClients, keyArn: string, message: Buffer): Promise<{ signature: string; messageType: "RAW" | "DIGEST" }> {
  const messageType = message.length <= RAW_LIMIT ? "RAW" : "DIGEST";
  const body = messageType === "RAW" ? message : createHash("sha256").update(message).digest();
  try {
    const out = await aws
      .kms(regionOfArn(keyArn))
      .send(new SignCommand({ KeyId: keyArn, Message: body, MessageType: messageType, SigningAlgorithm: "ECDSA_SHA_256" }));
    if (!out.Signature) throw new Error("KMS returned no signature");
    return { signature: Buffer.from(out.Signature).toString("base64"), messageType };
  } catch (error) {
    if (error instanceof Error && error.name === "ExitPromptError") throw error;
    throw approvalError(`KMS could not sign with ${keyArn}: ${awsErrorName(error) ?? (error as Error).message}`, {
      code: "approval.kms-sign",
      hint: "Check the profile (--kms-profile), its MFA, and that the key is yours and enabled.",
      cause: error,
    });
  }
}
