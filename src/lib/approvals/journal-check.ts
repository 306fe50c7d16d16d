// `dropkeys log verify --approvals`: rebuild the signed request of every intent and verify
// each recorded approval with the key its approver had in the registry sealed at that time
// (keys rotate and people leave; history must still verify).
import type { Context } from "../context.js";
import type { JournalEntry } from "../journal/journal.js";
import type { Approver } from "../policy/schema.js";
import type { RecordedApproval } from "./index.js";
import { kmsPublicKey, verifyKmsSignature } from "./kms.js";
import { lastSeal, SEAL_OPERATION } from "./registry-journal.js";
import { requestBytes, REQUEST_VERSION, type OperationRequest } from "./request.js";
import { parseBlob, publicKeyBlob, verifySshSig } from "./sshsig.js";

export async function reverifyJournalApprovals(ctx: Context, entries: JournalEntry[]): Promise<string[]> {
  const problems: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.type !== "intent" || !entry.approvals?.length) continue;
    const registry = registryAt(ctx, entries, i);
    for (const approval of entry.approvals as Partial<RecordedApproval>[]) {
      const where = `entry #${entry.seq} (${entry.operation}): approval by ${approval.approver} as ${approval.role}`;
      const problem = await check(ctx, entry, approval, registry);
      if (problem) problems.push(`${where}: ${problem}`);
    }
  }
  return problems;
}

/** The approvers in force for entry i: the seal before it (a seal is approved by the previous one). */
function registryAt(ctx: Context, entries: JournalEntry[], i: number): Approver[] {
  const entry = entries[i]!;
  const before = lastSeal(entries.slice(0, i));
  if (before) return before.approvers;
  if (entry.operation === SEAL_OPERATION && Array.isArray(entry.params?.approvers)) return entry.params.approvers as Approver[];
  return ctx.policy.approvers;
}

async function check(ctx: Context, entry: JournalEntry, approval: Partial<RecordedApproval>, registry: Approver[]): Promise<string | undefined> {
  if (!approval.request || !approval.signature || !entry.requestId) return "the signed request is not recorded, so it cannot be re-verified";
  const approver = registry.find((a) => a.name === approval.approver);
  if (!approver) return "no such approver in the registry in force at the time";
  if (approver.revoked) return `${approver.name} was revoked in the registry in force at the time`;
  const request: OperationRequest = {
    v: REQUEST_VERSION,
    id: entry.requestId,
    operation: entry.operation,
    target: approval.request.target,
    params: entry.params ?? {},
    reason: entry.reason ?? null,
    incident: entry.incident ?? null,
    requestedBy: approval.request.requestedBy,
    createdAt: approval.request.createdAt,
    expiresAt: approval.request.expiresAt,
  };
  const message = requestBytes(request);
  try {
    if (approval.signer === "ssh") {
      if (!approver.ssh) return `${approver.name} has no SSH key registered`;
      const sig = parseBlob(Buffer.from(approval.signature, "base64"));
      if (!sig.publicKey.equals(publicKeyBlob(approver.ssh))) return `signed with a key that is not ${approver.name}'s registered key`;
      const result = verifySshSig(sig, message);
      return result.ok ? undefined : result.detail;
    }
    if (!approver.kms) return `${approver.name} has no KMS key registered`;
    const key = await kmsPublicKey(ctx.aws, approver.kms, approver.kmsPublicKey);
    return verifyKmsSignature(key, message, approval.signature) ? undefined : "the KMS signature does not verify over the recorded request";
  } catch (error) {
    return `cannot be verified: ${(error as Error).message}`;
  }
}
