// --reenable-source needs the approvals of `enable` as well as those of reencrypt. The pipeline
// checks one rule, so the two are merged (policy/rules.ts) into one at least as strict as each.
import type { Context } from "../context.js";
import { approvalRule } from "../policy/approval-rule.js";
import { mergeRules } from "../policy/rules.js";

/** Registers "A+B" in the context's policy (once) and returns its name, for OperationSpec.rule. */
export function combinedRule(ctx: Context, first: string, second: string): string {
  const name = `${first}+${second}`;
  if (!ctx.policy.approvals[name]) ctx.policy.approvals[name] = mergeRules(approvalRule(ctx, first), approvalRule(ctx, second));
  return name;
}
