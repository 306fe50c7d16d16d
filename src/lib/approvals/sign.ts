// Signing a request as one registered approver: SSH (key file, or ssh-agent holding the
// registered key) or KMS (the approver's own key, with their own AWS profile and MFA).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AwsClients } from "../aws/clients.js";
import { askMfaCode } from "../context.js";
import { approvalError } from "../errors.js";
import type { Approver, Policy } from "../policy/schema.js";
import { KMS_APPROVAL_FORMAT, kmsSign, type KmsApproval } from "./kms.js";
import type { OperationRequest } from "./request.js";
import { fingerprint, parseArmored, publicKeyBlob, sshKeygenSign } from "./sshsig.js";

export interface SignOptions {
  /** OpenSSH private key file; without it (SSH approvers) the registered key is used from ssh-agent. */
  keyFile?: string | undefined;
  /** AWS profile for KMS approvers; default the approver's `kmsProfile`, else the global one. */
  kmsProfile?: string | undefined;
  /** A person is at the terminal: ssh-keygen may ask for a passphrase, the SDK for an MFA code. */
  terminal: boolean;
}

/** Where KMS calls go: the running clients, and what a client for another profile needs. */
export interface SignerAws {
  aws: AwsClients;
  endpoints: Policy["endpoints"];
  endpointUrl?: string | undefined;
}

/** Sign `message` (the request's bytes) as `approver`; returns the approval file's text. */
export async function signAs(env: SignerAws, approver: Approver, request: OperationRequest, message: Buffer, options: SignOptions): Promise<string> {
  if (approver.revoked) throw approvalError(`${approver.name} is revoked in the approvers registry and cannot approve`, { code: "approval.revoked" });
  if (approver.kms) {
    if (options.keyFile) throw approvalError(`${approver.name} approves with a KMS key: use --kms-profile, not --key`, { code: "approval.signer-kind" });
    const profile = options.kmsProfile ?? approver.kmsProfile;
    const aws = profile
      ? new AwsClients({
          endpointUrl: env.endpointUrl,
          endpoints: env.endpoints,
          profile,
          mfaCodeProvider: options.terminal ? askMfaCode : undefined,
        })
      : env.aws;
    const { signature, messageType } = await kmsSign(aws, approver.kms, message);
    const doc: KmsApproval = {
      format: KMS_APPROVAL_FORMAT,
      approver: approver.name,
      keyArn: approver.kms,
      requestId: request.id,
      algorithm: "ECDSA_SHA_256",
      messageType,
      signature,
    };
    return JSON.stringify(doc, null, 2) + "\n";
  }
  if (options.kmsProfile) throw approvalError(`${approver.name} approves with an SSH key: use --key (or ssh-agent), not --kms-profile`, { code: "approval.signer-kind" });
  const registered = publicKeyBlob(approver.ssh!);
  let text: string;
  if (options.keyFile) {
    text = sshKeygenSign(message, { keyFile: options.keyFile, terminal: options.terminal });
  } else {
    if (!process.env.SSH_AUTH_SOCK) {
      throw approvalError(`no key to sign with for ${approver.name}: pass --key PATH, or load the registered key into ssh-agent`, { code: "approval.no-key" });
    }
    // ssh-keygen signs through the agent when given the public half of a key the agent holds.
    const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-agent-"));
    try {
      const pub = path.join(dir, "approver.pub");
      writeFileSync(pub, approver.ssh! + "\n");
      text = sshKeygenSign(message, { keyFile: pub, terminal: options.terminal });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const used = parseArmored(text).publicKey;
  if (!used.equals(registered)) {
    throw approvalError(`the key ${fingerprint(used)} is not ${approver.name}'s registered key (${fingerprint(registered)}); nothing was written`, {
      code: "approval.wrong-key",
    });
  }
  return text;
}
