// One approval file -> the registered approver who signed this exact request, or exit 3 saying
// what is wrong and for whom. Two signer kinds: SSHSIG (identified by the public key inside the
// signature) and dropkeys' KMS approval document (identified by approver name and key ARN).
import { readFileSync } from "node:fs";
import path from "node:path";
import type { AwsClients } from "../aws/clients.js";
import { approvalError } from "../errors.js";
import type { Approver } from "../policy/schema.js";
import { isKmsApprovalText, kmsPublicKey, parseKmsApproval, spkiFingerprint, verifyKmsSignature } from "./kms.js";
import { fingerprint, isArmoredSshSig, parseArmored, publicKeyBlob, SshSigFormatError, verifySshSig, type SshSignature } from "./sshsig.js";

export interface VerifiedApproval {
  /** Where it came from, for messages ("alice.sig", "terminal"). */
  source: string;
  approver: Approver;
  signer: "ssh" | "kms";
  fingerprint: string;
  /** base64 of the SSHSIG blob, or of the DER ECDSA signature. */
  signature: string;
}

export interface VerifyContext {
  approvers: Approver[];
  ruleName: string;
  requestId: string;
  message: Buffer;
  aws: AwsClients;
}

export function readApprovalFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw approvalError(`cannot read the approval file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      code: "approval.unreadable",
    });
  }
}

/** The registered approver whose ssh key is `blob`. */
export function approverBySshKey(approvers: Approver[], blob: Buffer): Approver | undefined {
  return approvers.find((a) => {
    if (!a.ssh) return false;
    try {
      return publicKeyBlob(a.ssh).equals(blob);
    } catch {
      return false;
    }
  });
}

export async function verifyApprovalText(text: string, source: string, vc: VerifyContext): Promise<VerifiedApproval> {
  const name = path.basename(source);
  const refuse = (message: string, code: string, hint?: string) =>
    approvalError(`approval ${name}: ${message}`, { code, ...(hint ? { hint } : {}), details: { file: source, rule: vc.ruleName } });

  if (isKmsApprovalText(text)) {
    const parsed = parseKmsApproval(text);
    if (typeof parsed === "string") throw refuse(`not a valid KMS approval: ${parsed}`, "approval.malformed");
    const approver = vc.approvers.find((a) => a.name === parsed.approver);
    if (!approver) throw refuse(`"${parsed.approver}" is not a registered approver`, "approval.unknown-approver", registryHint(vc.ruleName));
    if (approver.kms !== parsed.keyArn) {
      throw refuse(
        `the KMS key ${parsed.keyArn} is not registered to ${approver.name} (${approver.kms ? `registered: ${approver.kms}` : "who signs with ssh"})`,
        "approval.kms-key-not-registered",
      );
    }
    checkNotRevoked(approver, refuse);
    if (parsed.requestId !== vc.requestId) {
      throw refuse(`${approver.name} signed request ${parsed.requestId}, not this request ${vc.requestId}`, "approval.other-request");
    }
    // Only the public key the sealed policy carries: an endpoint could answer with anyone's key.
    if (!approver.kmsPublicKey) {
      throw refuse(`${approver.name}'s KMS public key is not in the sealed policy, so the approval cannot be verified (dropkeys never asks an endpoint for it)`, "approval.kms-key-unpinned",
        "Add the key's public key as `kmsPublicKey` to the approver and seal the policy.");
    }
    const key = await kmsPublicKey(vc.aws, approver.kms, approver.kmsPublicKey);
    if (!verifyKmsSignature(key, vc.message, parsed.signature)) {
      throw refuse(`the KMS signature of ${approver.name} does not verify over request ${vc.requestId} (forged, or made over other bytes)`, "approval.bad-signature");
    }
    return { source, approver, signer: "kms", fingerprint: spkiFingerprint(key), signature: parsed.signature };
  }

  let sig: SshSignature;
  try {
    if (!isArmoredSshSig(text)) throw new SshSigFormatError("it is neither an SSH signature (-----BEGIN SSH SIGNATURE-----) nor a dropkeys KMS approval");
    sig = parseArmored(text);
  } catch (error) {
    if (!(error instanceof SshSigFormatError)) throw error;
    throw refuse(`not a valid approval signature: ${error.message}`, "approval.malformed", "Pass the .sig file that `dropkeys approve` or `ssh-keygen -Y sign -n dropkeys-approval` wrote.");
  }
  const fp = fingerprint(sig.publicKey);
  const approver = approverBySshKey(vc.approvers, sig.publicKey);
  if (!approver) throw refuse(`signed by key ${fp}, which belongs to no registered approver`, "approval.unknown-approver", registryHint(vc.ruleName));
  checkNotRevoked(approver, refuse);
  const result = verifySshSig(sig, vc.message);
  if (!result.ok) {
    const code = result.reason === "namespace" ? "approval.wrong-namespace" : result.reason === "signature" ? "approval.bad-signature" : "approval.malformed";
    const detail =
      result.reason === "signature"
        ? `the signature of ${approver.name} does not verify over request ${vc.requestId} (forged, or made over other bytes)`
        : `the signature of ${approver.name} is refused: ${result.detail}`;
    throw refuse(detail, code);
  }
  return { source, approver, signer: "ssh", fingerprint: fp, signature: sig.blob.toString("base64") };
}

function checkNotRevoked(approver: Approver, refuse: (m: string, c: string) => Error): void {
  if (approver.revoked) throw refuse(`${approver.name} is revoked in the approvers registry and can no longer approve`, "approval.revoked");
}

function registryHint(ruleName: string): string {
  return ruleName === "registry"
    ? "A change of the approvers registry is approved by people of the previously sealed registry, not by newly added ones."
    : "Approvers are listed in the policy's `approvers` section (sealed with `dropkeys approvers seal`).";
}
