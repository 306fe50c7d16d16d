// The journal's WORM mirror, where one is configured (the one the last seal names, else the
// policy file's): the bucket answers, has Object Lock in COMPLIANCE mode, and holds exactly the
// local journal's entries. Read-only: nothing is mirrored or repaired here.
import { GetObjectLockConfigurationCommand } from "@aws-sdk/client-s3";
import { lastSeal } from "../journal/approver-registry.js";
import type { Context } from "../context.js";
import { awsErrorName } from "../errors.js";
import { mirrorFor } from "../journal/mirror.js";
import { awsTimeoutMs } from "./aws.js";
import { ok, problem, reason, warning, withTimeout, type CheckResult } from "./check.js";

export async function mirrorCheck(ctx: Context): Promise<CheckResult[]> {
  let entries;
  try {
    entries = ctx.journal().entries();
  } catch {
    return []; // the journal checks already say why the journal cannot be read
  }
  const sealed = lastSeal(entries)?.authority?.journal;
  const mirror = mirrorFor(ctx, sealed?.mirror ? sealed : undefined);
  if (!mirror) return [];
  const facts = { url: mirror.url, bucket: mirror.bucket };
  const timeout = awsTimeoutMs(ctx);
  try {
    const lock = await withTimeout(
      ctx.aws.s3(ctx.policy.region).send(new GetObjectLockConfigurationCommand({ Bucket: mirror.bucket })),
      timeout,
      `S3 GetObjectLockConfiguration of ${mirror.bucket}`,
    ).catch((error: unknown) => {
      // S3's answer for a bucket made without Object Lock.
      if (awsErrorName(error) === "ObjectLockConfigurationNotFoundError") return { ObjectLockConfiguration: undefined };
      throw error;
    });
    const config = lock.ObjectLockConfiguration;
    // dropkeys puts every entry with its own COMPLIANCE retention, so Object Lock on is what matters;
    // a GOVERNANCE default would still let a privileged person remove what others put there.
    if (config?.ObjectLockEnabled !== "Enabled") {
      return [
        problem(
          "journal.mirror",
          `the mirror bucket ${mirror.bucket} answers, but has no Object Lock: its copies could be deleted or overwritten`,
          "Create the bucket as `dropkeys init --mirror URL` prints (Object Lock can only be turned on at creation), and point journal.mirror at it.",
          facts,
        ),
      ];
    }
    const findings = await withTimeout(mirror.compare(entries), timeout, `listing the mirror ${mirror.url}`);
    if (findings.length > 0) {
      return [
        problem(
          "journal.mirror",
          `the local journal and its mirror ${mirror.url} differ: ${findings[0]!.message}${findings.length > 1 ? ` (and ${findings.length - 1} more)` : ""}`,
          "Run `dropkeys log verify` to see every difference; a journal behind or diverged from its mirror stops every operation.",
          { ...facts, findings: findings.length },
        ),
      ];
    }
    const mode = config.Rule?.DefaultRetention?.Mode;
    if (mode === "GOVERNANCE") {
      return [warning("journal.mirror", `the mirror ${mirror.url} holds exactly the local journal's ${entries.length} entries, but the bucket's default retention is GOVERNANCE`, "Set the bucket's default retention to COMPLIANCE (`dropkeys init --mirror URL` prints the command).", facts)];
    }
    return [ok("journal.mirror", `the mirror ${mirror.url} has Object Lock (each entry locked in COMPLIANCE mode) and holds exactly the local journal's ${entries.length} entries`, facts)];
  } catch (error) {
    return [problem("journal.mirror", `the mirror ${mirror.url} cannot be read: ${reason(error)}`, "Check the bucket, the S3 endpoint and this identity's s3:GetObjectLockConfiguration / ListBucketVersions permissions.", facts)];
  }
}
