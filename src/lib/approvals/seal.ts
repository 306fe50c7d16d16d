// The operation "approvers-seal": journal the policy's approvers list and its digest. It runs
// through the pipeline like any operation, under rule `registry`, but approved by the previous
// sealed list (as TUF rotates its root): newly added people cannot approve their own addition.
import type { Context } from "../context.js";
import { usageError } from "../errors.js";
import type { OperationSpec } from "../operation.js";
import type { OperationInput } from "../ops/index.js";
import type { Approver } from "../policy/schema.js";
import { publicKeyBlob } from "./sshsig.js";
import { allowUnsealedForFirstSeal, lastSeal, REGISTRY_RULE, registryDigest, SEAL_OPERATION } from "./registry-journal.js";

export interface SealResult {
  digest: string;
  approvers: number;
}

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<SealResult>> {
  const approvers = ctx.policy.approvers;
  checkDistinctEntries(approvers);
  const previous = lastSeal(ctx.journal().entries());
  const digest = registryDigest(approvers);
  const changes = previous ? describeChanges(previous.approvers, approvers) : approvers.map((a) => `+ ${describe(a)}`);
  return {
    operation: SEAL_OPERATION,
    rule: REGISTRY_RULE,
    target: "approvers-registry",
    journalTarget: { name: "approvers", kind: "approvers-registry" },
    // Recomputed from policy and journal, never taken from the input: `apply` compares the two.
    params: { name: "approvers", digest, previous: previous?.digest ?? null, approvers },
    reason: input.reason,
    incident: input.incident,
    summary: `Seal the approvers registry: ${approvers.length} approver(s), digest ${digest.slice(0, 16)}…${previous ? `, replacing the seal of entry #${previous.seq}` : " (first seal)"}`,
    async preflight() {
      if (previous?.digest === digest) {
        return { facts: [`sealed in journal entry #${previous.seq}, digest ${digest.slice(0, 16)}…`], noop: "The approvers registry is already sealed as it is." };
      }
      if (!previous && approvers.length === 0) return { facts: [], noop: "The policy lists no approvers: nothing to seal." };
      return {
        facts: [
          previous
            ? `approved by the registry sealed in entry #${previous.seq} (${previous.approvers.map((a) => a.name).join(", ") || "nobody"})`
            : "first seal: approved by the people it lists (trust on first use)",
          ...changes,
        ],
      };
    },
    async execute() {
      return { digest, approvers: approvers.length };
    },
    outcomeDetails: (r) => ({ digest: r.digest, approvers: r.approvers }),
  };
}

/** The context the seal runs its approvals in: the previous sealed list, or the new one at first. */
export function approvalContext(ctx: Context, operation: string): Context {
  if (operation !== SEAL_OPERATION) return ctx;
  const previous = lastSeal(ctx.journal().entries());
  const policy = { ...ctx.policy, approvers: previous ? previous.approvers : ctx.policy.approvers };
  if (!previous) allowUnsealedForFirstSeal(policy);
  return Object.assign(Object.create(Object.getPrototypeOf(ctx) as object) as Context, ctx, { policy });
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
