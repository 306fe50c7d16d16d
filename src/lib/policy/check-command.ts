// `dropkeys policy check` and `dropkeys init`.
import { copyFileSync, existsSync } from "node:fs";
import path from "node:path";
import type { GlobalOptions } from "../cli-options.js";
import { usageError } from "../errors.js";
import { Output, table } from "../output.js";
import { BUNDLED_POLICY, loadPolicy } from "./load.js";

export async function runPolicyCheck(options: GlobalOptions): Promise<void> {
  const out = new Output({ json: options.json, color: options.color, verbose: options.verbose });
  const { policy, file, source } = loadPolicy(options.policy);
  const c = out.color;
  const summary = {
    file,
    source,
    valid: true,
    inventory: policy.inventory.map((e) => ({ name: e.name, kind: e.kind, region: e.region ?? policy.region, rotation: e.rotation.label, classification: e.classification })),
    approvers: policy.approvers.map((a) => ({ name: a.name, roles: a.roles, signer: a.ssh ? "ssh" : "kms", revoked: a.revoked })),
    approvals: Object.fromEntries(Object.entries(policy.approvals).map(([k, r]) => [k, { roles: r.roles, singleCustodianException: r.singleCustodianException }])),
  };
  out.result(summary, () => {
    const lines = [c.green(`The policy is valid: ${file}${source === "bundled" ? " (bundled default)" : ""}`), ""];
    lines.push(table(["NAME", "KIND", "REGION", "CLASS", "ROTATION"], summary.inventory.map((e) => [e.name, e.kind, e.region, e.classification ?? "-", e.rotation])));
    lines.push("", "Approval rules (each slot a distinct person; a|b = either role):");
    for (const [name, rule] of Object.entries(policy.approvals)) {
      const slots = rule.roles.map((s) => (Array.isArray(s) ? s.join("|") : s)).join(" + ");
      lines.push(`  ${name.padEnd(30)} ${slots}${rule.singleCustodianException ? c.yellow(`  (single custodian: exception ${rule.singleCustodianException})`) : ""}`);
    }
    lines.push("", policy.approvers.length ? `Approvers: ${policy.approvers.map((a) => `${a.name} [${a.roles.join(", ")}]${a.revoked ? " (revoked)" : ""}`).join("; ")}` : c.yellow("No approvers registered: no operation that needs approval can run."));
    return lines.join("\n");
  });
}

export async function runInit(options: GlobalOptions & { force: boolean; out: string }): Promise<void> {
  const out = new Output({ json: options.json, color: options.color, verbose: options.verbose });
  const target = path.resolve(options.out);
  if (existsSync(target) && !options.force) {
    throw usageError(`${target} exists; not overwriting it`, { code: "init.exists", hint: "Pass --force to replace it." });
  }
  copyFileSync(BUNDLED_POLICY, target);
  out.result({ written: target }, () => `Wrote ${target}. Edit the roles' principals and register approvers, then run \`dropkeys policy check\`.`);
}
