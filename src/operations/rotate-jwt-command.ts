// `dropkeys rotate-jwt`: a rotation through the operation pipeline (approvals, journal), or
// `--finish`, the cron half, which needs no approval (it only ends what an approved rotation
// started) but journals what it changes, intent first.
import { mirrorNow } from "../lib/journal/mirror.js";
import type { OperationOptions } from "../lib/cli-options.js";
import { createContext, type Context } from "../lib/context.js";
import { formatDuration } from "../lib/duration.js";
import { approvalError, ExitCode, usageError } from "../lib/errors.js";
import { pipelineFlags, runOperation } from "./pipeline.js";
import { readRequestFile } from "../lib/approvals/request.js";
import { build, OPERATION, paramsFromFlags, readParams } from "./rotate-jwt.js";
import { resolveEntry } from "../lib/targets.js";
import { formatLocal } from "../lib/time.js";
import { FINISH_COMMAND, renderRotateJwt } from "./rotate-jwt-render.js";
import { applyFinish, planFinish, requireState, type FinishPlan, type FinishResult, type RotationStep } from "../lib/jwt/rotation.js";

export interface RotateJwtOptions extends OperationOptions {
  finish: boolean;
  emergency: boolean;
  overlap?: string;
  compromisedSince?: string;
  detectedAt?: string;
  report?: string;
}

export async function runRotateJwt(name: string | undefined, options: RotateJwtOptions): Promise<void> {
  const ctx = await createContext(options);
  let secret = name ?? ctx.policy.jwt.secret;
  if (options.finish) {
    const extra = (["emergency", "overlap", "compromisedSince", "detectedAt", "report", "requestOut", "request"] as const).filter((k) => options[k]);
    if (extra.length || options.dryRun || options.approval.length) {
      throw usageError(`--finish takes no other operation flags (got ${[...extra, ...(options.dryRun ? ["dryRun"] : []), ...(options.approval.length ? ["approval"] : [])].join(", ")})`, {
        hint: "It only completes the rotation in progress: dropkeys rotate-jwt --finish",
      });
    }
    await runFinish(ctx, secret);
    return;
  }
  // --request FILE runs the approved request as written (its defaults were resolved when it was made).
  const request = options.request ? readRequestFile(options.request) : undefined;
  if (request && request.operation !== OPERATION) {
    throw approvalError(`the request file is not for this operation: it has operation ${request.operation}, not ${OPERATION}`, {
      code: "approval.request-mismatch",
      hint: `Run it with the command it was written for, or: dropkeys apply ${options.request} --approval ...`,
    });
  }
  if (request && typeof request.params.name === "string") secret = request.params.name;
  const params = request ? readParams(ctx, { name: secret, params: request.params }) : await paramsFromFlags(ctx, secret, options);
  const reason = request ? (request.reason ?? undefined) : options.reason;
  const incident = request ? (request.incident ?? undefined) : options.incident;
  const spec = await build(ctx, { name: secret, params: { ...params }, reason, incident });
  const outcome = await runOperation(ctx, spec, pipelineFlags(options));
  renderRotateJwt(ctx, outcome, { name: secret, params, incident });
}

// ---------------------------------------------------------------- --finish

async function runFinish(ctx: Context, secret: string): Promise<void> {
  const target = resolveEntry(ctx, secret, ["secret"]);
  const sm = ctx.aws.secrets(target.region);
  const state = await requireState(sm, target.name);
  const now = new Date();
  const plan = planFinish(state, now);
  const c = ctx.out.color;

  if (plan.action === "nothing" || plan.action === "wait") {
    ctx.out.result(
      plan.action === "nothing"
        ? { status: "nothing", secret: target.name, message: plan.message }
        : { status: "waiting", secret: target.name, overlapEnds: plan.ends.toISOString(), leftMs: plan.leftMs, newVersion: plan.newVersion, oldVersion: plan.oldVersion },
      () =>
        plan.action === "nothing"
          ? c.green(`Nothing to do: ${plan.message}.`)
          : [
              c.green(`Not yet: the overlap of ${target.name}'s rotation ends ${formatLocal(plan.ends)} (${formatDuration(plan.leftMs)} left).`),
              `  Old version ${plan.oldVersion} keeps verifying until then; run ${FINISH_COMMAND} after it (cron may run it any time).`,
            ].join("\n"),
    );
    return;
  }

  const journal = ctx.journal();
  const actor = await ctx.identity();
  const journalTarget = { name: target.name, arn: state.arn, region: target.region, kind: "secret" };
  const intent = journal.append({ type: "intent", operation: "rotate-jwt-finish", target: journalTarget, actor, params: planParams(target.name, plan) });
  const onStep = (step: RotationStep) => {
    journal.append({ type: "event", operation: "rotate-jwt-finish", intentSeq: intent.seq, target: journalTarget, actor, details: { ...step } });
  };
  let result: FinishResult;
  try {
    await mirrorNow(ctx);
    result = await applyFinish(sm, target.name, plan, onStep);
  } catch (error) {
    journal.append({
      type: "outcome",
      operation: "rotate-jwt-finish",
      intentSeq: intent.seq,
      target: journalTarget,
      actor,
      outcome: "failed",
      error: { code: (error as { code?: string }).code ?? "error", message: (error as Error).message },
    });
    throw error;
  }
  const passed = result.verification?.result === "passed";
  const outcome = journal.append({
    type: "outcome",
    operation: "rotate-jwt-finish",
    intentSeq: intent.seq,
    target: journalTarget,
    actor,
    outcome: passed ? "succeeded" : "failed",
    verification: result.verification,
    details: { action: plan.action, ...(result.retired ? { retired: result.retired } : {}), ...(result.overlapEnds ? { overlapEnds: result.overlapEnds.toISOString() } : {}) },
  });
  const deploy = ctx.policy.jwt.deployCommand;
  ctx.out.result(
    {
      status: "done",
      secret: target.name,
      action: plan.action,
      ...(result.retired ? { retired: result.retired } : {}),
      overlapEnds: result.overlapEnds?.toISOString() ?? null,
      verification: result.verification,
      journal: { intent: intent.seq, outcome: outcome.seq },
    },
    () => {
      const lines: string[] = [];
      switch (plan.action) {
        case "retire":
          lines.push(c.green(`Finished the rotation of ${target.name}: the overlap ended ${formatLocal(plan.ends)}, old version ${plan.oldVersion} no longer verifies.`));
          break;
        case "roll-back":
          lines.push(c.yellow(`Rolled back an interrupted rotation of ${target.name}: version ${plan.version} was never promoted and lost AWSPENDING; ${target.name} is unchanged.`));
          lines.push(`  Rotate again with a new request: dropkeys rotate-jwt`);
          break;
        case "clean-stray":
          lines.push(c.yellow(`Removed a stray AWSPENDING label from ${target.name}'s current version ${plan.version}.`));
          break;
        case "complete":
          lines.push(c.yellow(`Completed an interrupted rotation of ${target.name}: version ${plan.version} is AWSCURRENT.`));
          if (deploy) lines.push(c.yellow(`  The interrupted run may not have deployed: run the deploy command now: ${deploy}`));
          lines.push(
            result.retired
              ? `  Old version ${result.retired} no longer verifies (emergency, no overlap).`
              : `  The overlap ends ${formatLocal(result.overlapEnds!)}; then run: ${FINISH_COMMAND}`,
          );
          break;
      }
      if (result.verification) lines.push(`  Verified (${result.verification.method}): ${result.verification.result}${result.verification.detail ? `, ${result.verification.detail}` : ""}`);
      lines.push(c.dim(`  Journal: entries #${intent.seq}-#${outcome.seq} in ${journal.file}`));
      return lines.join("\n");
    },
  );
  if (!passed) process.exitCode = ExitCode.failed;
}

function planParams(name: string, plan: FinishPlan): Record<string, unknown> {
  switch (plan.action) {
    case "retire":
      return { name, action: plan.action, oldVersion: plan.oldVersion, newVersion: plan.newVersion, overlapEnded: plan.ends.toISOString() };
    case "complete":
      return { name, action: plan.action, version: plan.version, oldVersion: plan.rotation.oldVersion };
    case "roll-back":
    case "clean-stray":
      return { name, action: plan.action, version: plan.version };
    default:
      return { name, action: plan.action };
  }
}
