// What every approvable operation takes (from its command's flags or from a signed request) and
// the shape of an operation module.
import { readRequestFile } from "../lib/approvals/request.js";
import type { Context } from "../lib/context.js";
import { approvalError } from "../lib/errors.js";
import type { OperationResult, OperationSpec } from "./pipeline.js";

export interface OperationInput {
  /** Inventory entry name (or other target) as given on the command line / in the request. */
  name: string;
  /** Operation-specific parameters; exactly what the request records and approvals sign. */
  params: Record<string, unknown>;
  reason?: string | undefined;
  incident?: string | undefined;
}

/**
 * The input of `operation` from its command's flags (`given`: only the flags given). With
 * --request they are laid over the signed request's params, so a different flag is a mismatch
 * the pipeline refuses rather than something silently ignored.
 */
export function inputFromFlags(
  operation: string,
  name: string,
  options: { request?: string | undefined; reason?: string | undefined; incident?: string | undefined },
  given: Record<string, unknown>,
): OperationInput {
  if (!options.request) return { name, params: { name, ...given }, reason: options.reason, incident: options.incident };
  const request = readRequestFile(options.request);
  if (request.operation !== operation) {
    throw approvalError(`${options.request} is a ${request.operation} request, not ${operation}`, { code: "approval.request-mismatch", hint: `Run it with \`dropkeys apply ${options.request}\`.` });
  }
  return {
    name,
    params: { ...request.params, ...given },
    reason: options.reason ?? request.reason ?? undefined,
    incident: options.incident ?? request.incident ?? undefined,
  };
}

export interface OperationModule {
  build(ctx: Context, input: OperationInput): Promise<OperationSpec<unknown>>;
  /** How the operation's own command shows its result; `dropkeys apply` shows it the same way. */
  render?(ctx: Context, outcome: OperationResult<unknown>, spec: OperationSpec<unknown>, input: OperationInput): void | Promise<void>;
}
