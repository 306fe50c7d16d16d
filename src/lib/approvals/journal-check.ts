// `dropkeys log verify --approvals`: every intent must carry approvals that satisfy its rule as
// sealed at that time. The signed request is rebuilt from the intent and each approval is
// verified with the key its approver had in the seal in force then (keys rotate and people
// leave; history must still verify), and the approvers must fill the rule's slots as distinct
// people (or one person under the rule's sealed single-custodian exception). An intent with no
// approvals fails, unless it is a step of a request approved earlier in the journal.
import type { Context } from "../context.js";
import type { JournalEntry } from "../journal/journal.js";
import { sealedRule, type Authority } from "../policy/authority.js";
import type { ApprovalRule, Approver } from "../policy/schema.js";
import type { RecordedApproval } from "./index.js";
import { kmsPublicKey, verifyKmsSignature } from "./kms.js";
import { describeRuleSlots, fillsSlot, matchSlots } from "./matching.js";
import { lastSeal, REGISTRY_RULE, SEAL_OPERATION } from "../journal/approver-registry.js";
import { requestBytes, REQUEST_VERSION, type OperationRequest } from "./request.js";
import { parseBlob, publicKeyBlob, verifySshSig } from "./sshsig.js";

/** Intents that run without approvals of their own by design: cron finishing an approved rotation. */
const UNAPPROVED_BY_DESIGN = new Set(["rotate-jwt-finish"]);

type SealedAt = Pick<Authority, "approvers" | "approvals">;

export async function reverifyJournalApprovals(ctx: Context, entries: JournalEntry[]): Promise<string[]> {
  const problems: string[] = [];
  const approvedRequests = new Set<string>();
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.type !== "intent") continue;
    const sealed = sealedAt(ctx, entries, i);
    const ruleName = ruleOf(entry);
    const rule = sealedRule(sealed, ruleName);
    const label = `entry #${entry.seq} (${entry.operation})`;
    if (!entry.approvals?.length) {
      if (entry.requestId && approvedRequests.has(entry.requestId)) continue; // a step of an approved request (shred chunks, reencrypt's source key)
      if (UNAPPROVED_BY_DESIGN.has(entry.operation)) continue;
      problems.push(`${label}: no approvals recorded, but rule "${ruleName}" as sealed then needs ${rule ? describeRuleSlots(rule) : "approvals"}`);
      continue;
    }
    if (!rule) {
      problems.push(`${label}: rule "${ruleName}" is not in the policy sealed at the time`);
      continue;
    }
    const verified: Approver[] = [];
    for (const approval of entry.approvals as Partial<RecordedApproval>[]) {
      const where = `${label}: approval by ${approval.approver} as ${approval.role}`;
      const approver = sealed.approvers.find((a) => a.name === approval.approver);
      const problem = await check(ctx, entry, approval, approver);
      if (problem) problems.push(`${where}: ${problem}`);
      else if (approver && !verified.includes(approver)) verified.push(approver);
    }
    if (verified.length === 0) continue;
    const short = ruleShortfall(rule, ruleName, verified, entry.exception);
    if (short) problems.push(`${label}: ${short}`);
    else if (entry.requestId) approvedRequests.add(entry.requestId);
  }
  return problems;
}

/** The rule an intent was approved under: recorded since requests bind it; before, the default. */
function ruleOf(entry: JournalEntry): string {
  const recorded = entry.details?.rule;
  if (typeof recorded === "string") return recorded;
  return entry.operation === SEAL_OPERATION ? REGISTRY_RULE : entry.operation;
}

/** The approvers and rules in force for entry i: the seal before it (a seal is approved by the previous one). */
function sealedAt(ctx: Context, entries: JournalEntry[], i: number): SealedAt {
  const entry = entries[i]!;
  const before = lastSeal(entries.slice(0, i));
  // Seals written before the whole policy was sealed carry no rules: the file's are all there is.
  if (before) return { approvers: before.approvers, approvals: before.authority?.approvals ?? ctx.policy.approvals };
  const params = entry.params as { authority?: Authority; approvers?: Approver[] } | undefined;
  if (entry.operation === SEAL_OPERATION && params?.authority) return params.authority;
  if (entry.operation === SEAL_OPERATION && Array.isArray(params?.approvers)) return { approvers: params.approvers, approvals: ctx.policy.approvals };
  return { approvers: [], approvals: {} };
}

/** Why the verified approvers do not satisfy the rule, or undefined when they do. */
function ruleShortfall(rule: ApprovalRule, ruleName: string, people: Approver[], exception: string | undefined): string | undefined {
  if (matchSlots(rule.roles, people).complete) return undefined;
  const alone = people.length === 1 && rule.roles.every((slot) => fillsSlot(people[0]!, slot) !== undefined);
  if (exception !== undefined && alone && exception === rule.singleCustodianException) return undefined;
  const names = people.map((p) => p.name).join(", ");
  if (exception !== undefined && exception !== rule.singleCustodianException) {
    return `it claims single-custodian exception ${exception}, which rule "${ruleName}" as sealed then does not grant`;
  }
  return `the approvals of ${names} do not satisfy rule "${ruleName}" as sealed then (${describeRuleSlots(rule)}, distinct people)`;
}

async function check(ctx: Context, entry: JournalEntry, approval: Partial<RecordedApproval>, approver: Approver | undefined): Promise<string | undefined> {
  if (!approval.request || !approval.signature || !entry.requestId) return "the signed request is not recorded, so it cannot be re-verified";
  if (!approver) return "no such approver in the seal in force at the time";
  if (approver.revoked) return `${approver.name} was revoked in the seal in force at the time`;
  const { target, requestedBy, createdAt, expiresAt, policy, journal, rule } = approval.request;
  const bound = policy !== undefined && journal !== undefined && rule !== undefined;
  const base = {
    id: entry.requestId,
    operation: entry.operation,
    target,
    params: entry.params ?? {},
    reason: entry.reason ?? null,
    incident: entry.incident ?? null,
    requestedBy,
    createdAt,
    expiresAt,
  };
  // Requests made before binding (version 1) had no policy, journal or rule fields.
  const request = (bound ? { v: REQUEST_VERSION, ...base, policy, journal, rule } : { v: 1, ...base }) as OperationRequest;
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
    // Only the key the seal carries: verification never asks an endpoint.
    if (!approver.kmsPublicKey) return `${approver.name}'s public key is not in the seal, so the approval cannot be verified`;
    const key = await kmsPublicKey(ctx.aws, approver.kms, approver.kmsPublicKey);
    return verifyKmsSignature(key, message, approval.signature) ? undefined : "the KMS signature does not verify over the recorded request";
  } catch (error) {
    return `cannot be verified: ${(error as Error).message}`;
  }
}
