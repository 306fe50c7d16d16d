// Step 4 of the pipeline: the approvals a rule asks for, all checked before anything happens.
// A set is valid when every signature verifies over this exact request, the signers are
// registered, unrevoked, distinct people who fill the rule's slots (a matching), the request
// has not expired and its id was never used. Anything else is exit 3 naming rule and person.
import { approvalError } from "../errors.js";
import type { JournalApproval } from "../journal/journal.js";
import type { ApprovalRule, Approver } from "../policy/schema.js";
import { formatLocal } from "../time.js";
import { candidatesFor, describeRuleSlots, describeSlot, fillsSlot, matchSlots } from "./matching.js";
import type { OperationRequest } from "./request.js";
import { readApprovalFile, verifyApprovalText, type VerifiedApproval, type VerifyContext } from "./verify.js";
import type { CollectOptions } from "./collect-options.js";

export type { CollectOptions };

/**
 * What the intent records per approval. `request` holds the request fields the intent does not
 * carry itself, so `log verify --approvals` can rebuild the signed bytes.
 */
export interface RecordedApproval extends JournalApproval {
  request: Pick<OperationRequest, "target" | "requestedBy" | "createdAt" | "expiresAt" | "policy" | "journal" | "rule">;
}

export interface CollectedApprovals {
  journal: JournalApproval[];
  /** The single-custodian exception id, when it let one person fill every slot. */
  exception?: string;
}

export async function collectApprovals(o: CollectOptions): Promise<CollectedApprovals> {
  checkRequestUsable(o);
  const active = o.policy.approvers.filter((a) => !a.revoked);
  if (active.length === 0) {
    throw approvalError(`${o.request.operation} needs approval (rule "${o.ruleName}": ${describeRuleSlots(o.rule)}), but no approvers are registered`, {
      code: "approval.no-approvers",
      hint: "Register approvers in the policy's `approvers` section and seal them: `dropkeys approvers seal` (see README, Approvals).",
    });
  }
  const vc: VerifyContext = { approvers: o.policy.approvers, ruleName: o.ruleName, requestId: o.request.id, message: o.requestBytes, aws: o.aws };
  const verified: VerifiedApproval[] = [];
  for (const file of o.approvalFiles) {
    const approval = await verifyApprovalText(readApprovalFile(file), file, vc);
    checkDistinct(verified, approval, o.ruleName);
    verified.push(approval);
  }

  let result = assign(o.rule, verified);
  if (!result.complete) {
    if (!o.interactive) throw missingApprovals(o, verified, result);
    const { promptForApprovals } = await import("./interactive.js");
    await promptForApprovals(o, vc, verified, {
      unfilled: (list) => assign(o.rule, list).unfilled,
      accept: (approval) => {
        checkDistinct(verified, approval, o.ruleName);
        verified.push(approval);
      },
    });
    result = assign(o.rule, verified);
    if (!result.complete) throw missingApprovals(o, verified, result);
  }
  for (const v of verified) {
    if (!result.used.has(v)) o.out.warn(`the approval of ${v.approver.name} (${v.source}) is not needed for rule "${o.ruleName}" and is not recorded`);
  }
  const { target, requestedBy, createdAt, expiresAt, policy, journal: journalId, rule } = o.request;
  const journal: RecordedApproval[] = result.filled.map(({ approval, role }) => ({
    approver: approval.approver.name,
    role,
    signer: approval.signer,
    fingerprint: approval.fingerprint,
    signature: approval.signature,
    request: { target, requestedBy, createdAt, expiresAt, policy, journal: journalId, rule },
  }));
  return result.exception ? { journal, exception: result.exception } : { journal };
}

function checkRequestUsable(o: CollectOptions): void {
  const expires = new Date(o.request.expiresAt);
  if (Date.now() > expires.getTime()) {
    throw approvalError(`request ${o.request.id} expired at ${formatLocal(expires)}: approvals of an expired request are not accepted`, {
      code: "approval.expired",
      hint: "Write a new request (the same command with --request-out FILE) and have it signed again.",
      details: { requestId: o.request.id, expiresAt: o.request.expiresAt },
    });
  }
  if (o.isRequestIdUsed(o.request.id)) {
    throw approvalError(`request ${o.request.id} was already used (the journal records it): a signed request runs once`, {
      code: "approval.replay",
      hint: "Write a new request (the same command with --request-out FILE) and have it signed again.",
      details: { requestId: o.request.id },
    });
  }
}

/** The same person twice (by name, or two registry names with one email) is one approval. */
function checkDistinct(earlier: VerifiedApproval[], next: VerifiedApproval, ruleName: string): void {
  const same = earlier.find((e) => e.approver.name === next.approver.name || e.approver.email.toLowerCase() === next.approver.email.toLowerCase());
  if (!same) return;
  const who =
    same.approver.name === next.approver.name
      ? `${next.approver.name} approved twice (${same.source}, ${next.source})`
      : `${same.approver.name} and ${next.approver.name} are the same person (${next.approver.email})`;
  throw approvalError(`rule "${ruleName}": ${who}; each approval must come from a different person`, {
    code: "approval.same-person",
    hint: "Ask a second registered approver to sign.",
  });
}

interface Assignment {
  complete: boolean;
  unfilled: number[];
  filled: { approval: VerifiedApproval; role: string }[];
  used: Set<VerifiedApproval>;
  exception?: string;
}

function assign(rule: ApprovalRule, verified: VerifiedApproval[]): Assignment {
  const m = matchSlots(rule.roles, verified.map((v) => v.approver));
  if (m.complete || !rule.singleCustodianException) {
    const filled = m.slotToPerson.flatMap((p, s) => (p === -1 ? [] : [{ approval: verified[p]!, role: fillsSlot(verified[p]!.approver, rule.roles[s]!)! }]));
    return { complete: m.complete, unfilled: m.unfilled, filled, used: new Set(filled.map((f) => f.approval)) };
  }
  // A documented single-custodian exception: one person who holds every slot's role may fill all.
  const alone = verified.find((v) => rule.roles.every((slot) => fillsSlot(v.approver, slot) !== undefined));
  if (!alone) return { complete: false, unfilled: m.unfilled, filled: [], used: new Set() };
  const filled = rule.roles.map((slot) => ({ approval: alone, role: fillsSlot(alone.approver, slot)! }));
  return { complete: true, unfilled: [], filled, used: new Set([alone]), exception: rule.singleCustodianException };
}

/** Exit 3 naming the rule, what is still needed, who could give it, and the commands for it. */
function missingApprovals(o: CollectOptions, verified: VerifiedApproval[], result: Assignment): Error {
  const slots = result.unfilled.map((i) => o.rule.roles[i]!);
  const needed = slots.map(describeSlot);
  const notes: string[] = [];
  for (const v of verified) {
    const could = slots.find((s) => fillsSlot(v.approver, s) !== undefined);
    const fills = result.filled.find((f) => f.approval === v)?.role;
    if (could !== undefined && fills !== undefined) {
      notes.push(`${v.approver.name} fills ${fills === "*" ? "a role" : fills} and cannot also fill ${describeSlot(could)}: one person, one role`);
    } else if (!o.rule.roles.some((s) => fillsSlot(v.approver, s) !== undefined)) {
      notes.push(`${v.approver.name} (${v.approver.roles.join(", ")}) holds none of the roles this rule needs`);
    }
  }
  const given = verified.length ? ` Approved so far by: ${verified.map((v) => v.approver.name).join(", ")}.` : "";
  const who = slots.map((s) => `${describeSlot(s)}: ${namesOf(candidatesFor(s, o.policy.approvers)) || "nobody registered"}`);
  const message =
    `${o.request.operation} needs approval by rule "${o.ruleName}" (${describeRuleSlots(o.rule)}, distinct people); ` +
    `still needed: ${needed.join(" + ")}.${given}${notes.length ? ` Note: ${notes.join("; ")}.` : ""}`;
  const file = "request.json";
  return approvalError(message, {
    code: "approval.missing",
    hint:
      `Can approve: ${who.join("; ")}. Without a terminal: rerun with --request-out ${file}; each approver runs ` +
      `\`dropkeys approve ${file} --as NAME --key ~/.ssh/id_ed25519 --out NAME.sig\` (or \`ssh-keygen -Y sign -n dropkeys-approval -f KEY ${file}\`); ` +
      `then \`dropkeys apply ${file} --approval A.sig --approval B.sig\`.`,
    details: { rule: o.ruleName, requestId: o.request.id, missing: needed, approvedBy: verified.map((v) => v.approver.name) },
  });
}

function namesOf(approvers: Approver[]): string {
  return approvers.map((a) => a.name).join(", ");
}

