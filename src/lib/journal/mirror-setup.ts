// `dropkeys init`: the S3 settings the journal mirror needs, printed for whoever creates the
// bucket, and created with --create-mirror where the caller may. Object Lock can only be turned
// on when a bucket is created (it turns on versioning); COMPLIANCE mode means nobody, the
// account's root user included, can shorten the retention or delete a locked version.
import {
  CreateBucketCommand,
  GetObjectLockConfigurationCommand,
  PutObjectLockConfigurationCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { awsErrorName, failure, isDropkeysError } from "../errors.js";
import { parseMirrorUrl } from "./mirror.js";

export interface MirrorSettings {
  bucket: string;
  prefix: string;
  region: string;
  retentionDays: number;
  commands: string[];
}

export function mirrorSettings(url: string, region: string, retentionDays: number): MirrorSettings {
  const { bucket, prefix } = parseMirrorUrl(url);
  const lock = JSON.stringify({ ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: retentionDays } } });
  return {
    bucket,
    prefix,
    region,
    retentionDays,
    commands: [
      `aws s3api create-bucket --bucket ${bucket} --region ${region} --object-lock-enabled-for-bucket${region === "us-east-1" ? "" : ` --create-bucket-configuration LocationConstraint=${region}`}`,
      `aws s3api put-object-lock-configuration --bucket ${bucket} --object-lock-configuration '${lock}'`,
      `aws s3api put-public-access-block --bucket ${bucket} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true`,
    ],
  };
}

/** Create the bucket with Object Lock (COMPLIANCE, default retention) and public access blocked. */
export async function createMirrorBucket(s3: S3Client, settings: MirrorSettings): Promise<"created" | "exists"> {
  let state: "created" | "exists" = "created";
  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: settings.bucket,
        ObjectLockEnabledForBucket: true,
        ...(settings.region === "us-east-1" ? {} : { CreateBucketConfiguration: { LocationConstraint: settings.region as never } }),
      }),
    );
  } catch (error) {
    if (awsErrorName(error) !== "BucketAlreadyOwnedByYou") throw cannot("create the bucket", settings, error);
    state = "exists";
  }
  try {
    if (state === "exists") {
      const current = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: settings.bucket }));
      if (current.ObjectLockConfiguration?.ObjectLockEnabled !== "Enabled") {
        throw failure(`the bucket ${settings.bucket} exists without Object Lock, which can only be turned on at creation: use another bucket`, { code: "init.mirror-no-lock" });
      }
    }
    await s3.send(
      new PutObjectLockConfigurationCommand({
        Bucket: settings.bucket,
        ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: settings.retentionDays } } },
      }),
    );
    await s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: settings.bucket,
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true },
      }),
    );
  } catch (error) {
    if (isDropkeysError(error)) throw error;
    throw cannot("configure the bucket", settings, error);
  }
  return state;
}

function cannot(what: string, settings: MirrorSettings, error: unknown) {
  return failure(`cannot ${what} ${settings.bucket} for the journal mirror: ${awsErrorName(error) ?? (error as Error).message}`, {
    code: "init.mirror",
    hint: "Ask an account administrator to run the commands `dropkeys init` prints.",
    cause: error,
  });
}
