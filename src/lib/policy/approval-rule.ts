// The approval rule an operation names, or exit 2 when the policy lacks it.
import type { Context } from "../context.js";
import { usageError } from "../errors.js";
import type { ApprovalRule } from "./schema.js";

export function approvalRule(ctx: Context, name: string): ApprovalRule {
  const rule = ctx.policy.approvals[name];
  if (!rule) {
    throw usageError(`the policy has no approval rule "${name}"`, {
      code: "policy.rule-missing",
      hint: `Add approvals.${name} to the policy file (see the bundled policy for the defaults).`,
    });
  }
  return rule;
}
