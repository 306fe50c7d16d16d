// The three sources. Local files and the S3 archive are read for real (S3 is moto's); the `api`
// source is tested at the SDK boundary with recorded LookupEvents responses, because no emulator
// implements LookupEvents (moto answers 500 NotImplemented).
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { LookupEventsCommand, type LookupEventsCommandOutput } from "@aws-sdk/client-cloudtrail";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readApi, type LookupClient } from "../../src/lib/audit/sources/api.js";
import { listLocal, readLocalFiles } from "../../src/lib/audit/sources/local.js";
import { dayPrefixes, listArchive, readS3Objects } from "../../src/lib/audit/sources/s3.js";
import type { FileResult, ScanFilter } from "../../src/lib/audit/types.js";
import { s3Client } from "../support/aws.js";
import { suffix } from "../support/policy.js";
import { ACCOUNT, kmsRecord, s3Record, trailFile } from "./fixtures/cloudtrail.js";

const KEY = "arn:aws:kms:eu-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const WEST_KEY = "arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321";
const window: ScanFilter = { since: Date.parse("2026-11-20T00:00:00Z"), until: Date.parse("2026-11-20T23:59:59Z"), keys: null, keepKeyless: true };
const fileName = (region: string, stamp: string) => `${ACCOUNT}_CloudTrail_${region}_${stamp}_a1b2c3d4e5f6g7h8.json.gz`;

function collect(): { results: FileResult[]; onResult: (r: FileResult) => void } {
  const results: FileResult[] = [];
  return { results, onResult: (r) => results.push(r) };
}

describe("local directory", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "dropkeys-audit-local-"));
    const day = path.join(dir, "AWSLogs", ACCOUNT, "CloudTrail", "eu-north-1", "2026", "11", "20");
    mkdirSync(day, { recursive: true });
    writeFileSync(path.join(day, fileName("eu-north-1", "20261120T1005Z")), gzipSync(trailFile([kmsRecord({ time: "2026-11-20T10:00:00Z", keyArn: KEY }), s3Record("2026-11-20T10:01:00Z")])));
    writeFileSync(path.join(day, "plain-copy.json"), trailFile([kmsRecord({ time: "2026-11-20T11:00:00Z", keyArn: KEY, name: "GenerateDataKey" })]));
    const truncated = gzipSync(trailFile([kmsRecord({ time: "2026-11-20T12:00:00Z", keyArn: KEY })]));
    writeFileSync(path.join(day, fileName("eu-north-1", "20261120T1205Z")), truncated.subarray(0, truncated.length - 20));
    writeFileSync(path.join(day, "inventory.json"), JSON.stringify({ items: [1, 2] }));
    writeFileSync(path.join(day, `${ACCOUNT}_CloudTrail-Digest_eu-north-1_x_20261120T1005Z.json.gz`), gzipSync("{}"));
    writeFileSync(path.join(day, "README.txt"), "not a log");
    // Delivered a month before the window: skipped by its name, never opened.
    writeFileSync(path.join(day, fileName("eu-north-1", "20261020T1005Z")), "not even gzip");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("lists .json.gz and .json files, ignores digests and other files, skips files delivered far outside the window", () => {
    const listing = listLocal(dir, window.since, window.until);
    expect(listing.files.map((f) => path.basename(f.path)).sort()).toEqual([fileName("eu-north-1", "20261120T1005Z"), fileName("eu-north-1", "20261120T1205Z"), "inventory.json", "plain-copy.json"].sort());
    expect(listing.ignored).toBe(2);
    expect(listing.outsideWindow).toBe(1);
  });

  it("reads the good files and reports the damaged ones by name", async () => {
    const { results, onResult } = collect();
    await readLocalFiles(listLocal(dir, window.since, window.until).files, window, 2, onResult);
    const byName = new Map(results.map((r) => [path.basename(r.file), r]));
    expect(byName.get(fileName("eu-north-1", "20261120T1005Z"))).toMatchObject({ records: 2, kmsEvents: 1, events: [expect.objectContaining({ name: "Decrypt" })] });
    expect(byName.get("plain-copy.json")!.events.map((e) => e.name)).toEqual(["GenerateDataKey"]);
    expect(byName.get(fileName("eu-north-1", "20261120T1205Z"))!.error).toMatch(/truncated gzip/);
    expect(byName.get("inventory.json")!.error).toMatch(/not a CloudTrail log/);
  });

  it("refuses a source that does not exist, as a usage error", () => {
    expect(() => listLocal(path.join(dir, "nope"), 0, 1)).toThrow(/no such file or directory/);
  });
});

describe("S3 archive (moto)", () => {
  const bucket = `dropkeys-audit-${suffix()}`;
  const s3 = s3Client();
  const base = `trail/AWSLogs/${ACCOUNT}/CloudTrail`;
  const put = (key: string, body: Buffer) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
    const file = (time: string, keyArn = KEY) => gzipSync(trailFile([kmsRecord({ time, keyArn })]));
    await put(`${base}/eu-north-1/2026/11/19/${fileName("eu-north-1", "20261119T2355Z")}`, file("2026-11-19T23:50:00Z"));
    await put(`${base}/eu-north-1/2026/11/20/${fileName("eu-north-1", "20261120T1005Z")}`, file("2026-11-20T10:00:00Z"));
    await put(`${base}/eu-north-1/2026/11/20/${fileName("eu-north-1", "20261120T1105Z")}`, file("2026-11-20T11:00:00Z"));
    // Delivered after midnight, holding an event of the 20th: the next day's prefix is listed too.
    await put(`${base}/eu-north-1/2026/11/21/${fileName("eu-north-1", "20261121T0005Z")}`, file("2026-11-20T23:58:00Z"));
    await put(`${base}/eu-north-1/2026/11/25/${fileName("eu-north-1", "20261125T0005Z")}`, file("2026-11-25T00:00:00Z"));
    await put(`${base}/eu-west-1/2026/11/20/${fileName("eu-west-1", "20261120T1005Z")}`, file("2026-11-20T10:00:00Z", WEST_KEY));
    await put(`trail/AWSLogs/${ACCOUNT}/CloudTrail-Digest/eu-north-1/2026/11/20/digest.json.gz`, gzipSync("{}"));
  });

  it("lists only the day prefixes inside the window (plus a day for late delivery) and the regions asked for", async () => {
    expect(dayPrefixes(window.since, window.until, Date.parse("2026-11-23T00:00:00Z"))).toEqual(["2026/11/20/", "2026/11/21/"]);
    const listing = await listArchive(s3, { bucket, prefix: "trail" }, { regions: ["eu-north-1"], since: window.since, until: window.until });
    expect(listing.accounts).toEqual([ACCOUNT]);
    expect(listing.regions).toEqual(["eu-north-1"]);
    expect(listing.prefixes).toBe(2);
    expect(listing.objects.map((o) => o.key.split("/").slice(-4, -1).join("/")).sort()).toEqual(["2026/11/20", "2026/11/20", "2026/11/21"]);
    const every = await listArchive(s3, { bucket, prefix: `trail/AWSLogs/${ACCOUNT}/` }, { regions: null, since: window.since, until: window.until });
    expect(every.regions).toEqual(["eu-north-1", "eu-west-1"]);
    expect(every.objects).toHaveLength(4);
  });

  it("streams the objects, keeps the window's events, and reports an object that vanished after listing", async () => {
    const listing = await listArchive(s3, { bucket, prefix: "trail" }, { regions: ["eu-north-1"], since: window.since, until: window.until });
    const gone = listing.objects.find((o) => o.key.includes("T1105Z"))!;
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: gone.key }));
    const { results, onResult } = collect();
    await readS3Objects(s3, bucket, listing.objects, window, 2, onResult);
    expect(results).toHaveLength(3);
    const failed = results.filter((r) => r.error);
    expect(failed.map((r) => [r.file, r.error])).toEqual([[`s3://${bucket}/${gone.key}`, expect.stringMatching(/vanished.*NoSuchKey/)]]);
    expect(results.flatMap((r) => r.events.map((e) => new Date(e.time).toISOString())).sort()).toEqual(["2026-11-20T10:00:00.000Z", "2026-11-20T23:58:00.000Z"]);
  });

  it("says plainly when the bucket cannot be listed", async () => {
    await expect(listArchive(s3, { bucket: `${bucket}-missing`, prefix: "" }, { regions: null, since: window.since, until: window.until })).rejects.toThrow(/NoSuchBucket/);
  });
});

describe("api source: LookupEvents (recorded responses; no emulator implements LookupEvents)", () => {
  // The shape CloudTrail answers with: Events[] with the record as a JSON string in CloudTrailEvent.
  const recorded = JSON.parse(readFileSync(new URL("./fixtures/lookup-events-response.json", import.meta.url), "utf8")) as LookupEventsCommandOutput;
  const asEvent = (record: Record<string, unknown>) => ({
    EventId: record.eventID as string,
    EventName: record.eventName as string,
    ReadOnly: "true",
    EventTime: new Date(record.eventTime as string),
    EventSource: "kms.amazonaws.com",
    Resources: [{ ResourceType: "AWS::KMS::Key", ResourceName: KEY }],
    CloudTrailEvent: JSON.stringify(record),
  });

  /** A client answering the pages in turn; the calls numbered in `throttleOn` (from 1) answer ThrottlingException. */
  function fakeClient(pages: LookupEventsCommandOutput[], clock: { t: number }, throttleOn = new Set<number>()) {
    const calls: { input: LookupEventsCommand["input"]; at: number }[] = [];
    let page = 0;
    const client: LookupClient = {
      send(command: LookupEventsCommand) {
        calls.push({ input: command.input, at: clock.t });
        if (throttleOn.has(calls.length)) return Promise.reject(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }));
        return Promise.resolve(pages[page++]!);
      },
    };
    return { client, calls };
  }

  it("reads a recorded response and normalises its CloudTrailEvent records", async () => {
    const clock = { t: 0 };
    const { client } = fakeClient([recorded], clock);
    const { results, onResult } = collect();
    await readApi(() => client, { filter: { ...window, since: 0 }, regions: ["eu-north-1"], sleep: async (ms) => void (clock.t += ms), now: () => clock.t }, onResult);
    expect(results.flatMap((r) => r.events.map((e) => [e.name, e.principal, e.errorCode ?? null]))).toEqual([
      ["Decrypt", "arn:aws:iam::111122223333:role/drop-app-runner", null],
      ["Decrypt", "arn:aws:iam::111122223333:role/drop-batch-export", "AccessDenied"],
    ]);
  });

  it("follows every page asking for 50, paces requests to at most 2 per second, and retries throttling with backoff", async () => {
    const first = Array.from({ length: 50 }, (_, i) => asEvent(kmsRecord({ time: new Date(Date.parse("2026-11-20T12:00:00Z") - i * 1000).toISOString(), keyArn: KEY })));
    const second = Array.from({ length: 3 }, (_, i) => asEvent(kmsRecord({ time: new Date(Date.parse("2026-11-20T08:00:00Z") - i * 1000).toISOString(), keyArn: KEY })));
    const third = [asEvent(kmsRecord({ time: "2026-11-20T01:00:00Z", keyArn: KEY }))];
    const clock = { t: 1_000_000 };
    // The second request is throttled once; the retry gets page 2.
    const { client, calls } = fakeClient([{ Events: first, NextToken: "t1", $metadata: {} }, { Events: second, NextToken: "t2", $metadata: {} }, { Events: third, $metadata: {} }], clock, new Set([2]));
    const sleeps: number[] = [];
    const { results, onResult } = collect();
    const stats = await readApi(
      () => client,
      {
        filter: window,
        regions: ["eu-north-1"],
        sleep: async (ms) => {
          sleeps.push(ms);
          clock.t += ms;
        },
        now: () => clock.t,
      },
      onResult,
    );
    expect(stats).toEqual({ requests: 4, throttled: 1, pages: 3 });
    expect(results.reduce((n, r) => n + r.events.length, 0)).toBe(54);
    expect(calls.map((c) => c.input.NextToken ?? null)).toEqual([null, "t1", "t1", "t2"]);
    for (const c of calls) {
      expect(c.input.MaxResults).toBe(50);
      expect(c.input.LookupAttributes).toEqual([{ AttributeKey: "EventSource", AttributeValue: "kms.amazonaws.com" }]);
      expect(c.input.StartTime).toEqual(new Date(window.since));
      expect(c.input.EndTime).toEqual(new Date(window.until));
    }
    // Never two requests to one region within 500 ms; the throttled one waited at least 750 ms (1 s backoff, jitter).
    for (let i = 1; i < calls.length; i++) expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(500);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(750);
  });

  it("asks per key by ResourceName when --key narrows, in each key's region", async () => {
    const clock = { t: 0 };
    const byRegion = new Map<string, ReturnType<typeof fakeClient>>([
      ["eu-north-1", fakeClient([{ Events: [], $metadata: {} }], clock)],
      ["eu-west-1", fakeClient([{ Events: [], $metadata: {} }], clock)],
    ]);
    await readApi((r) => byRegion.get(r)!.client, { filter: { ...window, keys: [KEY, WEST_KEY] }, regions: ["eu-north-1", "eu-west-1"], keysByRegion: new Map([["eu-north-1", [KEY]], ["eu-west-1", [WEST_KEY]]]), sleep: async () => {}, now: () => clock.t }, () => {});
    expect(byRegion.get("eu-north-1")!.calls.map((c) => c.input.LookupAttributes)).toEqual([[{ AttributeKey: "ResourceName", AttributeValue: KEY }]]);
    expect(byRegion.get("eu-west-1")!.calls.map((c) => c.input.LookupAttributes)).toEqual([[{ AttributeKey: "ResourceName", AttributeValue: WEST_KEY }]]);
  });

  it("gives up after repeated throttling with an error that says what to do", async () => {
    const clock = { t: 0 };
    const { client } = fakeClient([], clock, new Set([1, 2, 3]));
    await expect(readApi(() => client, { filter: window, regions: ["eu-north-1"], maxRetries: 2, sleep: async (ms) => void (clock.t += ms), now: () => clock.t }, () => {})).rejects.toMatchObject({
      kind: "failed",
      code: "audit.throttled",
    });
  });
});
