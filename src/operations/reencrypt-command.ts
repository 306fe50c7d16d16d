// `dropkeys reencrypt`: flags -> the operation's input, the pipeline, the per-table report and
// the exit code (1 when a row was corrupt or failed; 130 when interrupted).
import type { OperationOptions } from "../lib/cli-options.js";
import { createContext } from "../lib/context.js";
import { approvalError } from "../lib/errors.js";
import { readRequestFile } from "../lib/approvals/request.js";
import { pipelineFlags, runOperation } from "./pipeline.js";

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
  const { build, renderReencrypt } = await import("./reencrypt.js");
  const spec = await build(ctx, { name: String(params.from ?? ""), params, reason, incident });
  const outcome = await runOperation(ctx, spec, pipelineFlags(options));
  renderReencrypt(ctx, outcome);
}
