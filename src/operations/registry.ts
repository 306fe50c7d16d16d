// Every approvable operation by name, so `dropkeys apply REQUEST` can rebuild exactly the
// operation a request describes. Each module exports `build(ctx, input)` -> OperationSpec; the
// command of the same name parses its flags into the same input and calls the same builder.
import { usageError } from "../lib/errors.js";
import type { OperationModule } from "./input.js";

const OPERATIONS: Record<string, () => Promise<OperationModule>> = {
  "approvers-seal": () => import("./seal.js") as Promise<OperationModule>,
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
