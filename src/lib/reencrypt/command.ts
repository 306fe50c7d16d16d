// `dropkeys reencrypt`: flags -> the operation's input, the pipeline, the per-table report and
// the exit code (1 when a row was corrupt or failed; 130 when interrupted).
import type { OperationOptions } from "../cli-options.js";
import { createContext, type Context } from "../context.js";
import { approvalError, ExitCode } from "../errors.js";
import { readRequestFile } from "../approvals/request.js";
import { pipelineFlags, runOperation, type OperationResult } from "../operation.js";
import { table as textTable } from "../output.js";
import { renderOperation, type RenderOptions } from "../render-operation.js";
import { formatLocal } from "../time.js";
import { totals } from "./engine.js";
import type { ReencryptRun } from "../ops/reencrypt.js";
import { formatDuration } from "../duration.js";

/** The pipeline's flags (shared with the key lifecycle commands) plus this command's own. */
export interface ReencryptOptions extends OperationOptions {
  from?: string;
  to?: string;
  concurrency?: string;
  reenableSource?: boolean;
}

export async function runReencrypt(options: ReencryptOptions): Promise<void> {
  const ctx = await createContext(options);
  // Only the flags given: with --request they are laid over the signed params (a difference is refused).
  const given = Object.fromEntries(
    Object.entries({
      from: options.from,
      to: options.to,
      concurrency: options.concurrency === undefined ? undefined : Number(options.concurrency),
      reenableSource: options.reenableSource === true ? true : undefined,
    }).filter(([, v]) => v !== undefined),
  );
  let params: Record<string, unknown> = { concurrency: 8, reenableSource: false, ...given };
  let reason = options.reason;
  let incident = options.incident;
  if (options.request) {
    const request = readRequestFile(options.request);
    if (request.operation !== "reencrypt") throw approvalError(`${options.request} is a ${request.operation} request, not reencrypt`, { code: "approval.request-mismatch" });
    params = { ...request.params, ...given };
    reason ??= request.reason ?? undefined;
    incident ??= request.incident ?? undefined;
  }
  const { build } = await import("../ops/reencrypt.js");
  const spec = await build(ctx, { name: String(params.from ?? ""), params, reason, incident });
  const outcome = await runOperation(ctx, spec, pipelineFlags(options));
  renderReencrypt(ctx, outcome);
}

export function renderReencrypt(ctx: Context, outcome: OperationResult<ReencryptRun>): void {
  renderOperation(ctx, outcome, reencryptRenderOptions(ctx));
  const r = outcome.result;
  if (!r) return;
  const t = totals(r);
  if (r.source.stoppedAfterMs !== undefined) process.exitCode = ExitCode.failed;
  else if (r.interrupted) process.exitCode = ExitCode.interrupted;
  else if (t.corrupt || t.failed) process.exitCode = ExitCode.failed;
}

export function reencryptRenderOptions(ctx: Context): RenderOptions<ReencryptRun> {
  const c = ctx.out.color;
  return {
    command: "dropkeys reencrypt",
    done: (r) => {
      const t = totals(r);
      const lines = [
        (t.corrupt || t.failed || r.interrupted ? c.yellow : c.green)(
          `Re-encrypted ${t.rewrapped} value(s) in ${(r.durationMs / 1000).toFixed(1)} s (${Math.round((t.rewrapped / Math.max(r.durationMs, 1)) * 1000)}/s, concurrency ${r.concurrency})`,
        ),
        textTable(
          ["class", "table.column", "rows", "rewrapped", "already new", "other key", "gone", "races", "corrupt", "failed"],
          r.tables.map((x) => [x.classification, `${x.table}.${x.column}`, String(x.scanned), String(x.rewrapped), String(x.alreadyNew), String(x.otherKey), String(x.gone), String(x.lostRaces), String(x.corrupt.length), String(x.failed.length)]),
        )
          .split("\n")
          .map((l) => `  ${l}`)
          .join("\n"),
      ];
      for (const x of r.tables) {
        for (const bad of x.corrupt.slice(0, 20)) lines.push(c.red(`  ${x.table} row ${JSON.stringify(bad.id)}: corrupt envelope: ${bad.problem} (left as it is)`));
        for (const bad of x.failed.slice(0, 20)) lines.push(c.red(`  ${x.table} row ${JSON.stringify(bad.id)}: ${bad.error}`));
      }
      if (r.throttled) lines.push(`  KMS throttled ${r.throttled} call(s); each was retried with backoff.`);
      if (r.source.reenabled && r.source.enabledAt && r.source.disabledAt) {
        lines.push(`  Source key enabled at ${formatLocal(new Date(r.source.enabledAt))} for the run and disabled again at ${formatLocal(new Date(r.source.disabledAt))}.`);
      }
      if (r.source.inheritedFrom) lines.push(`  The source key had been left Enabled by an interrupted run (${r.source.inheritedFrom}); this run disabled it again.`);
      if (r.source.stoppedAfterMs !== undefined) {
        lines.push(c.yellow(`  Stopped: the compromised source key may stay enabled at most ${formatDuration(ctx.policy.reenableMaxDuration)} (reenableMaxDuration); it is disabled again. Run the same command again to go on (what is done is skipped).`));
      } else if (r.interrupted) lines.push(c.yellow("  Interrupted: run the same command again to finish (what is done is skipped)."));
      return lines;
    },
    json: (r) => ({ result: { ...totals(r), tables: r.tables, durationMs: r.durationMs, concurrency: r.concurrency, throttled: r.throttled, interrupted: r.interrupted, source: r.source } }),
    next: (r) => {
      const t = totals(r);
      return [
        ...(t.corrupt ? ["Corrupt envelopes: check with the application team how these rows were written; they stay under the old key"] : []),
        ...(t.failed || r.interrupted ? ["Rerun the same reencrypt command to finish"] : []),
        "Point the application at the new key, deploy and verify (POLICY.md §5 steps 6-8)",
        "Then audit which decrypts used the old key: dropkeys audit-decrypts",
      ];
    },
  };
}
