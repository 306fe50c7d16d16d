// Does CloudTrail record KMS events in every region of the inventory's keys? Without it an audit
// that finds nothing means nothing. The reading of trails is the audit's own (audit/coverage.ts).
import { checkCoverage } from "../audit/coverage.js";
import type { Context } from "../context.js";
import { regionOf } from "../policy/load.js";
import { awsTimeoutMs } from "./aws.js";
import { ok, problem, reason, warning, withTimeout, type CheckResult } from "./check.js";

export async function cloudtrailCoverage(ctx: Context): Promise<CheckResult[]> {
  const regions = [...new Set(ctx.policy.inventory.filter((e) => e.kind === "kms-key").map((e) => regionOf(ctx.policy, e)))];
  return Promise.all(regions.map((region) => regionCoverage(ctx, region)));
}

async function regionCoverage(ctx: Context, region: string): Promise<CheckResult> {
  const id = `cloudtrail.${region}`;
  try {
    const coverage = await withTimeout(checkCoverage((r) => ctx.aws.cloudtrail(r), [region], "archive"), 3 * awsTimeoutMs(ctx), `CloudTrail in ${region}`);
    const c = coverage.regions[0]!;
    const facts = { region, kmsReads: c.kmsReads, kmsWrites: c.kmsWrites, trails: c.trails.map((t) => t.name) };
    if (c.kmsReads === null) return warning(id, c.message, "Let dropkeys' identity read the trails (cloudtrail:DescribeTrails, GetEventSelectors, GetTrailStatus).", facts);
    if (c.kmsReads && c.kmsWrites) return ok(id, c.message, facts);
    return problem(
      id,
      c.message,
      `Record KMS management events, reads and writes, in a logging trail of ${region} (no kms.amazonaws.com in ExcludeManagementEventSources, ReadWriteType All).`,
      facts,
    );
  } catch (error) {
    return warning(id, `${region}: cannot read the trails (${reason(error)})`, "Check the CloudTrail endpoint and dropkeys' read permissions, then run doctor again.", { region });
  }
}
