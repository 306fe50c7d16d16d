// How every mutating command reports the pipeline's result: done, nothing to do, dry run, or
// the request written for approvers, always with the next steps.
import type { Context } from "../lib/context.js";
import type { OperationResult } from "./pipeline.js";
import { formatLocal } from "../lib/time.js";

export interface RenderOptions<R> {
  /** Human lines for a completed operation. */
  done(result: R, outcome: OperationResult<R>): string[];
  /** The JSON of a completed operation (merged into the document). */
  json?(result: R): Record<string, unknown>;
  /** Steps still to do after success. */
  next?(result: R): string[];
  /** The command that runs this request once signed, for --request-out. */
  command: string;
}

export function renderOperation<R>(ctx: Context, outcome: OperationResult<R>, options: RenderOptions<R>): void {
  const c = ctx.out.color;
  const { request, preflight } = outcome;
  const json: Record<string, unknown> = {
    status: outcome.status,
    ...(request ? { request } : {}),
    facts: preflight.facts,
    ...(preflight.noop ? { message: preflight.noop } : {}),
    ...(outcome.approvals ? { approvals: outcome.approvals.journal.map(({ signature: _s, ...a }) => a), exception: outcome.approvals.exception } : {}),
    ...(outcome.verification ? { verification: outcome.verification } : {}),
    ...(outcome.intent ? { journal: { intent: outcome.intent.seq, outcome: outcome.outcome?.seq } } : {}),
    ...(outcome.result !== undefined && options.json ? options.json(outcome.result) : {}),
    ...(outcome.result !== undefined && options.next ? { next: options.next(outcome.result) } : {}),
  };
  ctx.out.result(json, () => {
    const lines: string[] = [];
    const facts = () => preflight.facts.forEach((f) => lines.push(`  ${f}`));
    switch (outcome.status) {
      case "noop":
        lines.push(c.green(preflight.noop ?? "Nothing to do."));
        facts();
        break;
      case "dry-run":
        lines.push(c.cyan("Dry run: nothing was changed and no approval was asked."));
        facts();
        if (request) lines.push(`  Would run ${request.operation} on ${request.target}`, `  Needs approval by: ${describeRule(outcome)}`);
        break;
      case "requested":
        lines.push(c.green(`Approval request written to ${outcome.requestFile}`));
        facts();
        if (request) {
          lines.push(
            `  Request ${request.id}, expires ${formatLocal(new Date(request.expiresAt))}`,
            `  Needs approval by: ${describeRule(outcome)}`,
            "",
            "Each approver signs it:",
            `  dropkeys approve ${outcome.requestFile} --as NAME --key ~/.ssh/id_ed25519 --out NAME.sig`,
            `  (or: ssh-keygen -Y sign -n dropkeys-approval -f ~/.ssh/id_ed25519 ${outcome.requestFile})`,
            "Then run it:",
            `  dropkeys apply ${outcome.requestFile} --approval A.sig --approval B.sig`,
          );
        }
        break;
      case "done": {
        const result = outcome.result as R;
        lines.push(...options.done(result, outcome));
        if (outcome.verification) {
          lines.push(`  Verified (${outcome.verification.method}): ${outcome.verification.result}${outcome.verification.detail ? `, ${outcome.verification.detail}` : ""}`);
        }
        if (outcome.approvals?.exception) lines.push(c.yellow(`  Approved under single-custodian exception ${outcome.approvals.exception}`));
        if (outcome.intent) lines.push(c.dim(`  Journal: entries #${outcome.intent.seq}-#${outcome.outcome?.seq} in ${ctx.journal().file}`));
        const next = options.next?.(result) ?? [];
        if (next.length) lines.push("", "Next:", ...next.map((n) => `  - ${n}`));
        break;
      }
    }
    return lines.join("\n");
  });
}

function describeRule(outcome: OperationResult<unknown>): string {
  const rule = outcome.rule;
  if (!rule) return "-";
  const slots = rule.roles.map((s) => (Array.isArray(s) ? s.join(" or ") : s === "*" ? "any registered approver" : s));
  return slots.join(" + ") + (rule.singleCustodianException ? ` (or one person, exception ${rule.singleCustodianException})` : "");
}
