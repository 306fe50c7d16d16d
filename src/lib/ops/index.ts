// Every approvable operation by name, so `dropkeys apply REQUEST` can rebuild exactly the
// operation a request describes. Each module exports `build(ctx, input)` -> OperationSpec; the
// command of the same name parses its flags into the same input and calls the same builder.
import { readRequestFile } from "../approvals/request.js";
import type { Context } from "../context.js";
import { approvalError, usageError } from "../errors.js";
import type { OperationResult, OperationSpec } from "../operation.js";

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

const OPERATIONS: Record<string, () => Promise<OperationModule>> = {
  "approvers-seal": () => import("../approvals/seal.js") as Promise<OperationModule>,
  generate: () => import("./generate.js") as Promise<OperationModule>,
  disable: () => import("./disable.js") as Promise<OperationModule>,
  enable: () => import("./enable.js") as Promise<OperationModule>,
  "rotate-key": () => import("./rotate-key.js") as Promise<OperationModule>,
  "schedule-deletion": () => import("./schedule-deletion.js") as Promise<OperationModule>,
  "cancel-deletion": () => import("./cancel-deletion.js") as Promise<OperationModule>,
  "rotate-jwt": () => import("./rotate-jwt.js") as Promise<OperationModule>,
  "shred-user": () => import("./shred-user.js") as Promise<OperationModule>,
  reencrypt: () => import("./reencrypt.js") as Promise<OperationModule>,
  grant: () => import("./grant.js") as Promise<OperationModule>,
  "revoke-grant": () => import("./revoke-grant.js") as Promise<OperationModule>,
  "sync-key-policy": () => import("./sync-key-policy.js") as Promise<OperationModule>,
};

/** Register an operation's module loader (each ops module adds itself in the table above). */
export function operationNames(): string[] {
  return Object.keys(OPERATIONS);
}

export async function loadOperation(name: string): Promise<OperationModule> {
  const load = OPERATIONS[name];
  if (!load) {
    throw usageError(`unknown operation "${name}" in the request`, {
      code: "request.unknown-operation",
      hint: `Known operations: ${operationNames().join(", ") || "(none)"}.`,
    });
  }
  return load();
}
