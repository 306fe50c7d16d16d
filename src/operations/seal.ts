// The operation "approvers-seal" (`dropkeys policy seal`, alias `approvers seal`): journal the
// policy's authority (policy/authority.ts) and its digest. It runs through the pipeline like any
// operation, under the `registry` rule and approvers of the previous seal (as TUF rotates its
// root): an edited file can neither approve itself nor lower the rule its own seal needs.
import type { Context } from "../lib/context.js";
import { approvalError, usageError } from "../lib/errors.js";
import { mirrorFor } from "../lib/journal/mirror.js";
import type { OperationSpec } from "./pipeline.js";
import type { OperationInput } from "./input.js";
import { authorityDigest, authorityOf, changedFields } from "../lib/policy/authority.js";
import type { Approver } from "../lib/policy/schema.js";
import { publicKeyBlob } from "../lib/approvals/sshsig.js";
import { exemptFromSealCheck, journalId, lastSeal, REGISTRY_RULE, SEAL_OPERATION } from "../lib/journal/approver-registry.js";

export interface SealResult {
  digest: string;
  approvers: number;
  fields: string[];
}

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<SealResult>> {
  const approvers = ctx.policy.approvers;
  checkDistinctEntries(approvers);
  checkKmsKeysPinned(approvers);
  const entries = ctx.journal().entries();
  const previous = lastSeal(entries);
  const authority = authorityOf(ctx.policy);
  const digest = authorityDigest(authority);
  const changes = previous ? describeChanges(previous.approvers, approvers) : approvers.map((a) => `+ ${describe(a)}`);
  const fields = previous?.authority ? changedFields(previous.authority, authority) : previous ? ["(first seal of the whole policy)"] : [];
  return {
    operation: SEAL_OPERATION,
    rule: REGISTRY_RULE,
    target: "policy-authority",
    journalTarget: { name: "policy", kind: "policy-seal" },
    // Recomputed from policy and journal, never taken from the input: `apply` compares the two.
    params: { name: "policy", digest, previous: previous?.digest ?? null, authority },
    reason: input.reason,
    incident: input.incident,
    summary: `Seal the policy (approvers, rules, holds, mappings): ${approvers.length} approver(s), digest ${digest.slice(0, 16)}…${previous ? `, replacing the seal of entry #${previous.seq}` : " (first seal)"}`,
    async preflight() {
      if (previous?.digest === digest) {
        return { facts: [`sealed in journal entry #${previous.seq}, digest ${digest.slice(0, 16)}…`], noop: "The policy is already sealed as it is." };
      }
      if (!previous && approvers.length === 0) return { facts: [], noop: "The policy lists no approvers: nothing to seal." };
      if (!previous) await checkGenesis(ctx, journalId(entries));
      return {
        facts: [
          previous
            ? `approved by the registry sealed in entry #${previous.seq} (${previous.approvers.map((a) => a.name).join(", ") || "nobody"}), under that seal's rule "registry"`
            : "first seal: approved by the people it lists (trust on first use)",
          ...changes,
          ...fields.filter((f) => !f.startsWith("approvers")).map((f) => `~ ${f}`),
        ],
      };
    },
    async execute() {
      return { digest, approvers: approvers.length, fields };
    },
    outcomeDetails: (r) => ({ digest: r.digest, approvers: r.approvers }),
  };
}

/**
 * Genesis pinning: a first-use seal is trust on first use, so it is refused where the journal is
 * known to exist already: the policy pins another journal id, or the mirror prefix holds one.
 */
async function checkGenesis(ctx: Context, id: string | null): Promise<void> {
  const pinned = ctx.policy.journal?.id;
  if (pinned && pinned !== id) {
    throw approvalError(`the policy pins journal ${pinned.slice(0, 16)}…, but this journal ${id ? `is ${id.slice(0, 16)}…` : "is empty"}: a first-use seal here would start another journal`, {
      code: "approval.genesis-pinned",
      hint: "Run dropkeys with the official journal directory (restore it from the mirror), not a fresh one.",
    });
  }
  const mirror = mirrorFor(ctx);
  if (!mirror) return;
  const others = (await mirror.journalIds()).filter((j) => j !== id);
  if (others.length > 0) {
    throw approvalError(`the journal mirror ${mirror.url} already holds journal ${others[0]!.slice(0, 16)}…: a first-use seal of a new journal under it is refused`, {
      code: "approval.genesis-exists",
      hint: "Use the official journal (restore it from the mirror); a new journal needs a new mirror prefix.",
      details: { journals: others },
    });
  }
}

/** The context the seal runs its approvals in: the previous seal's approvers and rules, or the file's at first. */
export function approvalContext(ctx: Context, operation: string): Context {
  if (operation !== SEAL_OPERATION) return ctx;
  const previous = lastSeal(ctx.journal().entries());
  const policy = previous
    ? {
        ...ctx.policy,
        approvers: previous.approvers,
        // A seal written before the whole policy was sealed has no rules: then the file's.
        approvals: previous.authority?.approvals ?? ctx.policy.approvals,
        requestLifetime: previous.authority?.requestLifetime ?? ctx.policy.requestLifetime,
      }
    : { ...ctx.policy };
  // The seal is how the file's changes get approved: its own seal check is this substitution.
  exemptFromSealCheck(policy);
  return Object.assign(Object.create(Object.getPrototypeOf(ctx) as object) as Context, ctx, { policy });
}

/** Verification never asks an endpoint for an approver's public key: the sealed list carries it. */
function checkKmsKeysPinned(approvers: Approver[]): void {
  const unpinned = approvers.filter((a) => a.kms && !a.kmsPublicKey);
  if (unpinned.length === 0) return;
  throw usageError(`KMS approver(s) ${unpinned.map((a) => a.name).join(", ")} have no kmsPublicKey: a seal carries every approver's public key`, {
    code: "policy.kms-key-unpinned",
    hint: "Add the key's public key (PEM, from `aws kms get-public-key`) as `kmsPublicKey` to each KMS approver, then seal.",
  });
}

function describe(a: Approver): string {
  return `${a.name} <${a.email}> [${a.roles.join(", ")}] ${a.ssh ? "ssh" : "kms"}${a.revoked ? " (revoked)" : ""}`;
}

function describeChanges(before: Approver[], after: Approver[]): string[] {
  const key = (a: Approver) => JSON.stringify(a);
  const lines: string[] = [];
  for (const a of after) {
    const old = before.find((b) => b.name === a.name);
    if (!old) lines.push(`+ ${describe(a)}`);
    else if (key(old) !== key(a)) lines.push(`~ ${describe(a)}`);
  }
  for (const b of before) if (!after.some((a) => a.name === b.name)) lines.push(`- ${describe(b)}`);
  return lines;
}

/** One entry per person and per key; two names sharing a key or an email would be one person twice. */
function checkDistinctEntries(approvers: Approver[]): void {
  const seen = new Map<string, string>();
  for (const a of approvers) {
    const facts: [string, string][] = [
      ["name", a.name],
      ["email", a.email.toLowerCase()],
      a.ssh ? ["ssh key", publicKeyBlob(a.ssh).toString("base64")] : ["kms key", a.kms ?? ""],
    ];
    for (const [label, value] of facts) {
      const other = seen.get(`${label} ${value}`);
      if (other !== undefined) {
        throw usageError(`approvers ${other} and ${a.name} have the same ${label}: each approver is one person with their own key`, {
          code: "policy.approvers-duplicate",
        });
      }
      seen.set(`${label} ${value}`, a.name);
    }
  }
}
