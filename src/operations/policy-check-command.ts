// `dropkeys policy check` and `dropkeys init`.
import { appendFileSync, copyFileSync, existsSync } from "node:fs";
import path from "node:path";
import type { GlobalOptions } from "../lib/cli-options.js";
import { usageError } from "../lib/errors.js";
import { Output, table } from "../lib/output.js";
import { createMirrorBucket, mirrorSettings } from "../lib/journal/mirror-setup.js";
import { DEFAULT_RETENTION_DAYS } from "../lib/policy/authority.js";
import { BUNDLED_POLICY, loadPolicy } from "../lib/policy/load.js";

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

export interface InitOptions extends GlobalOptions {
  force: boolean;
  out: string;
  mirror?: string;
  retentionDays?: string;
  createMirror?: boolean;
}

export async function runInit(options: InitOptions): Promise<void> {
  const out = new Output({ json: options.json, color: options.color, verbose: options.verbose });
  const target = path.resolve(options.out);
  const retentionDays = options.retentionDays === undefined ? DEFAULT_RETENTION_DAYS : Number(options.retentionDays);
  if (!Number.isInteger(retentionDays) || retentionDays < 1) throw usageError(`--retention-days must be a whole number of days, got "${options.retentionDays}"`);
  if (options.createMirror && !options.mirror) throw usageError("--create-mirror needs --mirror s3://BUCKET/PREFIX", { code: "usage.no-mirror" });
  if (options.mirror && !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(options.mirror)) throw usageError(`--mirror: expected s3://BUCKET/PREFIX, got "${options.mirror}"`);
  const exists = existsSync(target);
  // With --create-mirror an existing policy is kept: the bucket is what is asked for.
  if (exists && !options.force && !options.createMirror) {
    throw usageError(`${target} exists; not overwriting it`, { code: "init.exists", hint: "Pass --force to replace it." });
  }
  const written = !exists || options.force;
  if (written) {
    copyFileSync(BUNDLED_POLICY, target);
    if (options.mirror) {
      appendFileSync(target, `\n# The journal's write-once copy (S3 Object Lock, COMPLIANCE mode): see \`dropkeys init\` for the bucket settings.\njournal:\n  mirror: ${options.mirror}\n  retentionDays: ${retentionDays}\n`);
    }
  }
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "eu-north-1";
  const settings = mirrorSettings(options.mirror ?? "s3://drop-internkontroll/legal", region, retentionDays);
  let bucket: "created" | "exists" | undefined;
  if (options.createMirror) {
    const { AwsClients } = await import("../lib/aws/clients.js");
    const aws = new AwsClients({ endpointUrl: options.endpointUrl, endpoints: {}, profile: options.profile });
    bucket = await createMirrorBucket(aws.s3(region), settings);
  }
  const c = out.color;
  out.result({ written: written ? target : null, mirror: { ...settings, bucketState: bucket ?? null } }, () =>
    [
      written ? `Wrote ${target}. Edit the roles' principals and register approvers, then run \`dropkeys policy check\` and \`dropkeys policy seal\`.` : `Kept ${target} as it is.`,
      "",
      `The journal mirror${options.mirror ? "" : " (example name; pass --mirror s3://BUCKET/PREFIX)"}: bucket ${settings.bucket} in ${region}, versioning and Object Lock on (set at creation),`,
      `default retention COMPLIANCE ${retentionDays} days, public access blocked. dropkeys needs s3:PutObject, s3:PutObjectRetention,`,
      "s3:GetObject and s3:ListBucketVersions on it; nobody needs s3:DeleteObject*, s3:PutBucketObjectLockConfiguration or s3:BypassGovernanceRetention.",
      ...(bucket ? ["", c.green(bucket === "created" ? `Created ${settings.bucket} with these settings.` : `${settings.bucket} existed with Object Lock; its default retention and public access block are set.`)] : ["", "To create it:", ...settings.commands.map((l) => `  ${l}`)]),
    ].join("\n"),
  );
}
