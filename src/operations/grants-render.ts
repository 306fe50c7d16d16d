// How grant, revoke-grant and sync-key-policy read when done (the command itself and `dropkeys apply`).
import type { Context } from "../lib/context.js";
import type { OperationResult, OperationSpec } from "./pipeline.js";
import type { OperationInput } from "./input.js";
import { renderOperation, type RenderOptions } from "./render.js";
import { formatLocal } from "../lib/time.js";
import type { GrantResult, RevokeGrantResult } from "../lib/grants/results.js";
import type { SyncKeyPolicyResult } from "../lib/keys/results.js";

function optionsFor(ctx: Context, spec: OperationSpec<unknown>): RenderOptions<unknown> {
  const c = ctx.out.color;
  const name = String(spec.params.name);
  switch (spec.operation) {
    case "grant":
      return {
        command: "dropkeys grant",
        done: (r) => {
          const g = r as GrantResult;
          return [
            c.green(`Granted ${g.grantee} ${g.operations.join(", ")} on ${name} (${g.keyId}): grant ${g.grantId}`),
            ...(g.encryptionContext ? [`  Only with encryption context ${Object.entries(g.encryptionContext).map(([k, v]) => `${k}=${v}`).join(", ")}`] : []),
            `  Expires ${formatLocal(new Date(g.expiresAt))}; dropkeys grant --retire-expired (cron) retires it then`,
          ];
        },
        json: (r) => ({ result: r }),
        next: (r) => [`Revoke it earlier if needed: dropkeys revoke-grant ${name} ${(r as GrantResult).grantId} --reason "..."`],
      };
    case "revoke-grant":
      return {
        command: "dropkeys revoke-grant",
        done: (r) => [c.green(`Revoked grant ${(r as RevokeGrantResult).grantId} on ${name}: ${(r as RevokeGrantResult).grantee} no longer has it.`)],
        json: (r) => ({ result: r }),
      };
    default:
      return {
        command: "dropkeys sync-key-policy",
        done: (r) => [c.green(`Put the policy's key policy on ${name} (${(r as SyncKeyPolicyResult).keyId}), digest ${(r as SyncKeyPolicyResult).keyPolicySha256.slice(0, 16)}…`)],
        json: (r) => ({ result: r }),
      };
  }
}

export function grantRender(ctx: Context, outcome: OperationResult<unknown>, spec: OperationSpec<unknown>, _input: OperationInput): void {
  renderOperation(ctx, outcome, optionsFor(ctx, spec));
}
