// `dropkeys shred-user`: flags -> the operation's input, the pipeline, the summary, the exit code
// (1 when any user was held, not found or failed; 130 when interrupted).
import { readFileSync } from "node:fs";
import type { OperationOptions } from "../lib/cli-options.js";
import { createContext } from "../lib/context.js";
import { approvalError, usageError } from "../lib/errors.js";
import { readRequestFile } from "../lib/approvals/request.js";
import { pipelineFlags, runOperation } from "./pipeline.js";
import { parseUserIds } from "../lib/shred/engine.js";

/** The pipeline's flags (shared with the key lifecycle commands) plus this command's own. */
export interface ShredOptions extends OperationOptions {
  fromFile?: string;
}

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
  const { build, renderShred } = await import("./shred-user.js");
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
