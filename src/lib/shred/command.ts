// `dropkeys shred-user`: flags -> the operation's input, the pipeline, the summary, the exit code
// (1 when any user was held, not found or failed; 130 when interrupted).
import { readFileSync } from "node:fs";
import type { OperationOptions } from "../cli-options.js";
import { createContext, type Context } from "../context.js";
import { approvalError, ExitCode, usageError } from "../errors.js";
import { readRequestFile } from "../approvals/request.js";
import { pipelineFlags, runOperation, type OperationResult } from "../operation.js";
import { renderOperation, type RenderOptions } from "../render-operation.js";
import { formatLocal } from "../time.js";
import { parseUserIds, type ShredSummary } from "./engine.js";
import type { ShredSpec } from "../ops/shred-user.js";

/** The pipeline's flags (shared with the key lifecycle commands) plus this command's own. */
export interface ShredOptions extends OperationOptions {
  fromFile?: string;
}

const MAX_LISTED = 20;

export async function runShredUser(args: string[], options: ShredOptions): Promise<void> {
  const ctx = await createContext(options);
  let userIds = parseUserIds([...args, ...(options.fromFile ? readIds(options.fromFile) : [])]);
  let reason = options.reason;
  let incident = options.incident;
  if (options.request) {
    const request = readRequestFile(options.request);
    if (request.operation !== "shred-user") {
      throw approvalError(`${options.request} is a ${request.operation} request, not shred-user`, { code: "approval.request-mismatch" });
    }
    if (userIds.length === 0) userIds = (request.params.userIds as string[]) ?? [];
    reason ??= request.reason ?? undefined;
    incident ??= request.incident ?? undefined;
  }
  const { build } = await import("../ops/shred-user.js");
  const spec = await build(ctx, { name: "users", params: { userIds }, reason, incident });
  const outcome = await runOperation(ctx, spec, pipelineFlags(options));
  renderShred(ctx, spec, outcome);
}

function readIds(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split(/\r?\n/);
  } catch (error) {
    throw usageError(`cannot read --from-file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { code: "usage.from-file" });
  }
}

/** The summary of a run (also used by `dropkeys apply` when it renders per operation), and the exit code. */
export function renderShred(ctx: Context, spec: ShredSpec, outcome: OperationResult<ShredSummary>): void {
  if (outcome.status === "noop") {
    const missing = [...(spec.states ?? new Map()).entries()].filter(([, s]) => s === "missing").map(([id]) => id);
    const erased = [...(spec.states ?? new Map()).entries()].filter(([, s]) => s === "erased").map(([id]) => id);
    const c = ctx.out.color;
    ctx.out.result({ status: "noop", message: outcome.preflight.noop, facts: outcome.preflight.facts, alreadyErased: erased, notFound: missing }, () =>
      [
        c.green(outcome.preflight.noop ?? "Nothing to do."),
        ...erased.slice(0, MAX_LISTED).map((id) => `  ${id}: already erased`),
        ...missing.slice(0, MAX_LISTED).map((id) => c.red(`  ${id}: not found`)),
      ].join("\n"),
    );
    if (missing.length > 0) process.exitCode = ExitCode.failed;
    return;
  }
  renderOperation(ctx, outcome, shredRenderOptions(ctx));
  const s = outcome.result;
  if (!s) return;
  if (s.interrupted) process.exitCode = ExitCode.interrupted;
  else if (s.failed.length || s.held.length || s.notFound.length) process.exitCode = ExitCode.failed;
}

export function shredRenderOptions(ctx: Context): RenderOptions<ShredSummary> {
  const c = ctx.out.color;
  return {
    command: "dropkeys shred-user",
    done: (s) => {
      const lines = [
        (s.failed.length || s.held.length || s.notFound.length ? c.yellow : c.green)(
          `Crypto-shredding: ${s.erased.length} erased, ${s.alreadyErased.length} already erased, ${s.held.length} held, ${s.notFound.length} not found, ${s.failed.length} failed (of ${s.total}, ${rate(s)})`,
        ),
      ];
      if (s.total <= MAX_LISTED) {
        for (const id of s.erased) lines.push(`  ${id}: erased (DEK destroyed, AML rows kept)`);
        for (const id of s.alreadyErased) lines.push(`  ${id}: already erased`);
      }
      for (const h of s.held.slice(0, MAX_LISTED)) lines.push(c.yellow(`  ${h.id}: held, not erased: ${h.reason}`));
      for (const id of s.notFound.slice(0, MAX_LISTED)) lines.push(c.red(`  ${id}: not found`));
      for (const f of s.failed.slice(0, MAX_LISTED)) lines.push(c.red(`  ${f.id}: failed: ${f.error}`));
      const more = Math.max(0, s.held.length - MAX_LISTED) + Math.max(0, s.notFound.length - MAX_LISTED) + Math.max(0, s.failed.length - MAX_LISTED);
      if (more) lines.push(`  ... ${more} more in the journal and in --json`);
      if (s.reconciled) lines.push(`  Journalled the outcome of ${s.reconciled} chunk(s) of an earlier, interrupted run.`);
      if (s.interrupted) lines.push(c.yellow("  Interrupted: the users not listed above are untouched; run the command again to finish."));
      if (s.erased.length) {
        lines.push(`  Database backups made before now still hold the old values until ${formatLocal(new Date(s.backupsHoldUntil))} (backup retention).`);
      }
      return lines;
    },
    json: (s) => ({
      summary: {
        total: s.total,
        erased: s.erased,
        alreadyErased: s.alreadyErased,
        held: s.held,
        notFound: s.notFound,
        failed: s.failed,
        interrupted: s.interrupted,
        backupsHoldUntil: s.backupsHoldUntil,
        durationMs: s.durationMs,
      },
    }),
    next: (s) => [
      ...(s.held.length ? ["Held users: tell the requester the erasure is postponed by a legal hold (GDPR Art. 17(3)(e)); rerun when the hold is released"] : []),
      ...(s.failed.length || s.interrupted ? ["Rerun the same command: erased users are skipped, the rest is erased"] : []),
      ...(s.erased.length ? [`Confirm the erasure to the requester; note that backups expire by ${s.backupsHoldUntil.slice(0, 10)}`] : []),
    ],
  };
}

function rate(s: ShredSummary): string {
  const seconds = Math.max(s.durationMs, 1) / 1000;
  return `${s.durationMs} ms, ${Math.round(s.total / seconds)} users/s`;
}
