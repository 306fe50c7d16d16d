// How each lifecycle operation's result reads (generate, disable, enable, rotate-key,
// schedule-deletion, cancel-deletion): one module for the commands and for `dropkeys apply`.
import type { Context } from "../lib/context.js";
import { incidentReport } from "../lib/incident/incident.js";
import { incidentLines } from "../lib/incident/render.js";
import { command } from "../lib/keys/common.js";
import type { CancelResult, DisableResult, EnableResult, GenerateResult, RotateResult, ScheduleResult } from "../lib/keys/results.js";
import { formatLocal } from "../lib/time.js";
import type { OperationModule } from "./input.js";
import type { OperationSpec } from "./pipeline.js";
import { renderOperation, type RenderOptions } from "./render.js";

export type LifecycleOperation = "generate" | "disable" | "enable" | "rotate-key" | "schedule-deletion" | "cancel-deletion";

type Renderers = {
  [K in LifecycleOperation]: RenderOptions<
    K extends "generate" ? GenerateResult : K extends "disable" ? DisableResult : K extends "enable" ? EnableResult : K extends "rotate-key" ? RotateResult : K extends "schedule-deletion" ? ScheduleResult : CancelResult
  >;
};

/** How each lifecycle operation's result reads; also usable by `dropkeys apply`. */
/** A lifecycle operation module's `render`: `dropkeys apply` shows what the command itself shows. */
export function lifecycleRender(operation: LifecycleOperation): NonNullable<OperationModule["render"]> {
  return (ctx, outcome, spec) => renderOperation(ctx, outcome, renderOptionsFor(ctx, operation, spec) as RenderOptions<unknown>);
}

export function renderOptionsFor(ctx: Context, operation: LifecycleOperation, spec: OperationSpec<unknown>): Renderers[LifecycleOperation] {
  const c = ctx.out.color;
  const name = String(spec.params.name);
  const incidentBlock = () => {
    if (!spec.incident) return [];
    const report = incidentReport(ctx.journal().entries(), spec.incident);
    return report ? ["", ...incidentLines(ctx, report)] : [];
  };
  const incidentJson = () => (spec.incident ? { incident: incidentReport(ctx.journal().entries(), spec.incident) } : {});
  const renderers: Renderers = {
    generate: {
      command: "dropkeys generate",
      done: (r) => [
        c.green(
          r.kind === "kms-key"
            ? `Created KMS key ${r.name}: ${r.keyId} as ${r.alias} in ${r.region}${r.previousKeyId ? ` (alias moved from ${r.previousKeyId})` : ""}`
            : r.kind === "secret"
              ? `Created secret ${r.name} in ${r.region} (version ${r.versionId}); its value was not shown and is not kept`
              : `Created signing key ${r.name} in ${r.region}: private key in Secrets Manager, kid ${r.kid}`,
        ),
        ...(r.kind === "kms-key" ? [`  ARN ${r.arn}`, `  Rotation: ${r.rotationPeriodDays ? `automatic, every ${r.rotationPeriodDays} days` : "by hand (dropkeys rotate-key)"}`] : [`  ARN ${r.arn}`]),
        ...(r.kind === "signing-key" ? (r.jwksOut ? [`  Public key added to ${r.jwksOut}`] : ["  Public JWKS:", JSON.stringify(r.jwks, null, 2)]) : []),
        ...incidentBlock(),
      ],
      json: (r) => ({ result: { ...r, canary: undefined }, ...incidentJson() }),
      next: (r) => (r.kind === "kms-key" && r.previousKeyId ? [`Re-encrypt what the old key ${r.previousKeyId} protected under the new key, L4 first`] : []),
    },
    disable: {
      command: "dropkeys disable",
      done: (r) => [c.green(`Disabled ${name} (${r.keyId}) in ${r.region}.`), ...incidentBlock()],
      json: (r) => ({ result: { keyId: r.keyId, arn: r.arn, region: r.region, disabledAt: r.disabledAt }, ...incidentJson() }),
      next: () => [
        `If this was a false alarm: ${command("enable", name, { reason: "...", incident: spec.incident })}`,
        `The incident: dropkeys incident show ${spec.incident}`,
      ],
    },
    enable: {
      command: "dropkeys enable",
      done: (r) => [c.green(`Enabled ${name} (${r.keyId}) in ${r.region} again.`), ...incidentBlock()],
      json: (r) => ({ result: r, ...incidentJson() }),
    },
    "rotate-key": {
      command: "dropkeys rotate-key",
      done: (r) => [c.green(`Rotated the key material of ${name} (${r.keyId}) in ${r.region}; old material still decrypts old ciphertext.`), ...incidentBlock()],
      json: (r) => ({ result: r, ...incidentJson() }),
    },
    "schedule-deletion": {
      command: "dropkeys schedule-deletion",
      done: (r) => [
        c.green(`Scheduled ${name} (${r.id}) for deletion on ${formatLocal(new Date(r.deletionDate))} (${r.days} days).`),
        `  Until then: ${command("cancel-deletion", name, { reason: "..." })}`,
        ...incidentBlock(),
      ],
      json: (r) => ({ result: { id: r.id, deletionDate: r.deletionDate, days: r.days, canarySource: r.canarySource }, ...incidentJson() }),
    },
    "cancel-deletion": {
      command: "dropkeys cancel-deletion",
      done: (r) => [
        c.green(`Cancelled the deletion of ${name} (${r.id}).`),
        r.kind === "kms-key" ? c.yellow(`  The key is ${r.state} now (KMS leaves it disabled): enable it with ${command("enable", name, { reason: "..." })} if it is needed.`) : `  The secret is restored.`,
        ...incidentBlock(),
      ],
      json: (r) => ({ result: r, ...incidentJson() }),
    },
  };
  return renderers[operation];
}
