// The policy checks: it validates, and its authority is sealed in the journal.
import { registryState } from "../journal/approver-registry.js";
import type { Context } from "../context.js";
import { ok, problem, reason, warning, type CheckResult } from "./check.js";

export function policyValid(ctx: Context): CheckResult {
  const p = ctx.policy;
  return ok("policy", `${ctx.policyFile} (${ctx.policySource}) validates: ${p.inventory.length} inventory entries, ${p.approvers.length} approvers`, {
    file: ctx.policyFile,
    source: ctx.policySource,
  });
}

export function policyInvalid(error: unknown): CheckResult {
  const problems = (error as { details?: { problems?: unknown } })?.details?.problems;
  const detail = Array.isArray(problems) ? `the policy is not valid: ${problems.join("; ")}` : reason(error);
  return problem("policy", detail, "Fix the policy file (`dropkeys policy check` lists every problem); the other checks need a valid policy.");
}

/** Whether what decides authority (approvers, rules, holds, mappings, the mirror) is the sealed policy. */
export function sealState(ctx: Context): CheckResult {
  let s: ReturnType<typeof registryState>;
  try {
    s = registryState(ctx.policy, ctx.journal().entries());
  } catch (error) {
    return warning("policy.seal", `cannot read the seal from the journal: ${reason(error)}`, "Fix the journal (see the journal checks), then run doctor again.");
  }
  const digest = s.digest.slice(0, 16);
  switch (s.state) {
    case "sealed":
      return ok("policy.seal", `the policy's authority is sealed (journal entry #${s.seal.seq}, digest ${digest}…)`, { state: s.state, digest: s.digest, sealSeq: s.seal.seq });
    case "changed":
      return problem(
        "policy.seal",
        `the policy (digest ${digest}…) differs from the one sealed in journal entry #${s.seal.seq} in ${s.fields.slice(0, 5).join(", ")}${s.fields.length > 5 ? ` and ${s.fields.length - 5} more` : ""}: every operation is refused`,
        "Restore the sealed fields, or have the change approved with `dropkeys policy seal` (by approvers of the previous seal).",
        { state: s.state, digest: s.digest, sealedDigest: s.seal.digest, sealSeq: s.seal.seq, fields: s.fields },
      );
    case "unsealed":
      return problem("policy.seal", "the policy's authority has never been sealed: approvals cannot be trusted until it is", "Run `dropkeys policy seal`, signed by the approvers it lists.", {
        state: s.state,
        digest: s.digest,
      });
    case "empty":
      return warning("policy.seal", "the policy lists no approvers, so nothing can be approved", "Register the approvers in the policy and run `dropkeys policy seal`.", { state: s.state });
  }
}
