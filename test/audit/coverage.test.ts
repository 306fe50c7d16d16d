// "Is anything logged at all?" against moto's CloudTrail (DescribeTrails, GetEventSelectors,
// GetTrailStatus are real there). Each case lives in its own region so the trails do not mix.
import {
  CloudTrailClient,
  CreateTrailCommand,
  PutEventSelectorsCommand,
  StartLoggingCommand,
  type AdvancedEventSelector,
  type EventSelector,
} from "@aws-sdk/client-cloudtrail";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { checkCoverage, evaluateSelectors } from "../../src/lib/audit/coverage.js";
import { motoUrl, s3Client } from "../support/aws.js";
import { suffix } from "../support/policy.js";

const credentials = { accessKeyId: "test", secretAccessKey: "test" };
const clients = new Map<string, CloudTrailClient>();
const cloudtrail = (region: string) => {
  let c = clients.get(region);
  if (!c) clients.set(region, (c = new CloudTrailClient({ region, endpoint: motoUrl(), credentials, maxAttempts: 1 })));
  return c;
};
const s = suffix();
const bucket = `dropkeys-trail-${s}`;

async function trail(region: string, name: string, selectors: { basic?: EventSelector[]; advanced?: AdvancedEventSelector[] }, logging = true) {
  const c = cloudtrail(region);
  await c.send(new CreateTrailCommand({ Name: `${name}-${s}`, S3BucketName: bucket, IsMultiRegionTrail: false }));
  if (selectors.basic || selectors.advanced) {
    await c.send(new PutEventSelectorsCommand({ TrailName: `${name}-${s}`, EventSelectors: selectors.basic, AdvancedEventSelectors: selectors.advanced }));
  }
  if (logging) await c.send(new StartLoggingCommand({ Name: `${name}-${s}` }));
}

beforeAll(async () => {
  await s3Client().send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
  await trail("eu-central-1", "all", { basic: [{ ReadWriteType: "All", IncludeManagementEvents: true }] });
  await trail("ca-central-1", "nokms", { basic: [{ ReadWriteType: "All", IncludeManagementEvents: true, ExcludeManagementEventSources: ["kms.amazonaws.com"] }] });
  await trail("sa-east-1", "writeonly", { basic: [{ ReadWriteType: "WriteOnly", IncludeManagementEvents: true }] });
  await trail("ap-south-1", "advwrites", {
    advanced: [{ Name: "management writes", FieldSelectors: [{ Field: "eventCategory", Equals: ["Management"] }, { Field: "readOnly", Equals: ["false"] }] }],
  });
  await trail("us-west-1", "stopped", { basic: [{ ReadWriteType: "All", IncludeManagementEvents: true }] }, false);
});

describe("checkCoverage against moto", () => {
  it("a logging trail with all management events: recorded", async () => {
    const c = await checkCoverage(cloudtrail, ["eu-central-1"], "archive");
    expect(c.gaps).toEqual([]);
    expect(c.regions[0]).toMatchObject({ region: "eu-central-1", kmsReads: true, kmsWrites: true });
    expect(c.regions[0]!.trails[0]).toMatchObject({ name: `all-${s}`, logging: true, bucket });
  });

  it("ExcludeManagementEventSources containing kms.amazonaws.com: says KMS events are NOT recorded", async () => {
    const c = await checkCoverage(cloudtrail, ["ca-central-1"], "archive");
    expect(c.regions[0]).toMatchObject({ kmsReads: false, kmsWrites: false });
    expect(c.gaps[0]).toMatch(/KMS events are NOT recorded.*ExcludeManagementEventSources contains kms\.amazonaws\.com/);
  });

  it("ReadWriteType WriteOnly: Decrypt and friends are NOT recorded, key management is", async () => {
    const c = await checkCoverage(cloudtrail, ["sa-east-1"], "archive");
    expect(c.regions[0]).toMatchObject({ kmsReads: false, kmsWrites: true });
    expect(c.gaps[0]).toMatch(/data-plane events \(Decrypt.*NOT recorded.*WriteOnly.*does not mean unused/);
  });

  it("advanced selectors recording only writes: reads are NOT recorded", async () => {
    const c = await checkCoverage(cloudtrail, ["ap-south-1"], "archive");
    expect(c.regions[0]).toMatchObject({ kmsReads: false, kmsWrites: true });
  });

  it("a stopped trail and a region without trails: nothing recorded; the api source still has the event history", async () => {
    const c = await checkCoverage(cloudtrail, ["us-west-1", "af-south-1"], "api");
    expect(c.regions.map((r) => [r.region, r.kmsReads])).toEqual([
      ["us-west-1", false],
      ["af-south-1", false],
    ]);
    expect(c.gaps[0]).toMatch(/logging is stopped/);
    expect(c.gaps[1]).toMatch(/NO trail records events here.*90-day event history/);
  });
});

describe("evaluateSelectors", () => {
  it("advanced selectors that exclude kms.amazonaws.com, or select only data events", () => {
    expect(evaluateSelectors({ basic: [], advanced: [{ FieldSelectors: [{ Field: "eventCategory", Equals: ["Management"] }, { Field: "eventSource", NotEquals: ["kms.amazonaws.com"] }] }] })).toMatchObject({ reads: false, writes: false });
    expect(evaluateSelectors({ basic: [], advanced: [{ FieldSelectors: [{ Field: "eventCategory", Equals: ["Data"] }, { Field: "resources.type", Equals: ["AWS::S3::Object"] }] }] })).toMatchObject({ reads: false, writes: false });
    expect(evaluateSelectors({ basic: [{ IncludeManagementEvents: false, ReadWriteType: "All" }], advanced: [] })).toMatchObject({ reads: false, writes: false });
  });
});
