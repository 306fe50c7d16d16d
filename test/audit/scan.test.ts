// The record scanner and the stream reader: records found across any chunk boundary, strings
// holding braces and escapes, the KMS pre-filter never dropping a KMS event, and damaged input
// (truncated gzip, not CloudTrail JSON, events without fields) reported instead of thrown.
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { readCloudTrail, RecordScanner } from "../../src/lib/audit/scan.js";
import type { ScanFilter } from "../../src/lib/audit/types.js";
import { kmsRecord, s3Record, trailFile } from "./fixtures/cloudtrail.js";

const KEY = "arn:aws:kms:eu-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const all: ScanFilter = { since: 0, until: Date.parse("2100-01-01"), keys: null, keepKeyless: true };

function scanInChunks(text: string, size: number): { records: unknown[]; maybe: boolean[] } {
  const records: unknown[] = [];
  const maybe: boolean[] = [];
  const scanner = new RecordScanner((buf, start, end, m) => {
    records.push(JSON.parse(buf.toString("utf8", start, end)));
    maybe.push(m);
  });
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) scanner.push(bytes.subarray(i, i + size));
  scanner.end();
  return { records, maybe };
}

const read = (data: Buffer | string, gzip: boolean, filter = all, chunk = 7) =>
  readCloudTrail(Readable.from(chunked(Buffer.from(data), chunk)), { name: "test.json" + (gzip ? ".gz" : ""), gzip, filter });

function* chunked(buf: Buffer, size: number) {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

describe("RecordScanner", () => {
  const tricky = [
    kmsRecord({ time: "2026-11-20T10:00:00Z", keyArn: KEY, extra: { note: 'braces } ] { [ and "quotes" and a backslash \\ in a string' } }),
    s3Record("2026-11-20T10:00:01Z"),
    { eventVersion: "1.08", eventSource: "ec2.amazonaws.com", eventName: "DescribeInstances", nested: { a: [{ b: "}" }, [1, 2, { c: "\\\"" }]] } },
  ];
  const text = JSON.stringify({ Records: tricky }, null, 1);

  it.each([1, 2, 3, 5, 64, 100_000])("finds every record when the text arrives in chunks of %i bytes", (size) => {
    const { records, maybe } = scanInChunks(text, size);
    expect(records).toEqual(tricky);
    // The pre-filter lets the KMS record and the S3 record that mentions kms.amazonaws.com through; drops the EC2 one.
    expect(maybe).toEqual([true, true, false]);
  });

  it("keeps multi-byte UTF-8 (fødselsnummer, emoji) intact when a chunk splits a character", () => {
    const record = kmsRecord({ time: "2026-11-20T10:00:00Z", keyArn: KEY, extra: { note: "fødselsnummer ÆØÅ 🔑 \u00e6 \\\"" } });
    const doc = JSON.stringify({ Records: [record] });
    for (const size of [1, 2, 3]) expect(scanInChunks(doc, size).records).toEqual([record]);
  });

  it("ignores arrays named other than Records, and a Records key deeper down", () => {
    const doc = JSON.stringify({ Other: [{ eventSource: "kms.amazonaws.com" }], meta: { Records: [{ x: 1 }] }, Records: [{ a: 1 }] });
    expect(scanInChunks(doc, 4).records).toEqual([{ a: 1 }]);
  });

  it("lets through a record whose eventSource is spelled with \\u escapes (the pre-filter must stay correct)", () => {
    const escaped = trailFile([kmsRecord({ time: "2026-11-20T10:00:00Z", keyArn: KEY })]).replace('"kms.amazonaws.com"', '"kms\\u002eamazonaws.com"');
    const { records, maybe } = scanInChunks(escaped, 9);
    expect((records[0] as { eventSource: string }).eventSource).toBe("kms.amazonaws.com");
    expect(maybe).toEqual([true]);
  });

  it("refuses JSON that is not a CloudTrail log", () => {
    expect(() => scanInChunks("[1,2,3]", 3)).toThrow(/array/);
    expect(() => scanInChunks('{"items":[{"a":1}]}', 3)).toThrow(/no "Records" array/);
    expect(() => scanInChunks('{"Records":[{"a":1}', 3)).toThrow(/truncated/);
    expect(() => scanInChunks("hello", 3)).toThrow(/not JSON/);
  });
});

describe("readCloudTrail", () => {
  const records = [
    kmsRecord({ time: "2026-11-20T10:00:00Z", keyArn: KEY }),
    kmsRecord({ time: "2026-11-20T10:05:00Z", keyArn: KEY, errorCode: "AccessDenied", role: "drop-intruder" }),
    kmsRecord({ time: "2026-11-20T10:06:00Z", keyArn: "arn:aws:kms:eu-north-1:111122223333:key/other-key-0000" }),
    s3Record("2026-11-20T10:07:00Z"),
  ];

  it("gunzips, parses and keeps the KMS events of the keys in scope", async () => {
    const r = await read(gzipSync(trailFile(records)), true, { ...all, keys: [KEY] });
    expect(r.error).toBeUndefined();
    expect(r.records).toBe(4);
    expect(r.kmsEvents).toBe(3);
    expect(r.events.map((e) => [e.name, e.principal, e.errorCode])).toEqual([
      ["Decrypt", "arn:aws:iam::111122223333:role/drop-app-runner", undefined],
      ["Decrypt", "arn:aws:iam::111122223333:role/drop-intruder", "AccessDenied"],
    ]);
    expect(r.events[0]!.session).toBe("arn:aws:sts::111122223333:assumed-role/drop-app-runner/drop-app-runner-session");
    expect(r.events[0]!.keys).toEqual([KEY]);
    expect(r.bytes).toBe(Buffer.byteLength(trailFile(records)));
  });

  it("drops events outside the window", async () => {
    const r = await read(trailFile(records), false, { ...all, since: Date.parse("2026-11-20T10:04:00Z") });
    expect(r.events.map((e) => e.time)).toEqual([Date.parse("2026-11-20T10:05:00Z"), Date.parse("2026-11-20T10:06:00Z")]);
  });

  it("reports a truncated gzip file instead of throwing, and keeps none of its events", async () => {
    const gz = gzipSync(trailFile(records));
    const r = await read(gz.subarray(0, gz.length - 30), true);
    expect(r.error).toMatch(/truncated gzip/);
    expect(r.events).toEqual([]);
  });

  it("reports a .gz that is not gzip, and JSON that is not CloudTrail", async () => {
    expect((await read(trailFile(records), true)).error).toMatch(/not a valid gzip/);
    expect((await read(JSON.stringify({ hello: "world" }), false)).error).toMatch(/not a CloudTrail log/);
  });

  it("counts events without the expected fields and keeps the rest", async () => {
    const broken = { ...kmsRecord({ time: "2026-11-20T10:00:00Z", keyArn: KEY }) } as Record<string, unknown>;
    delete broken.eventID;
    const noTime = { ...kmsRecord({ time: "2026-11-20T10:00:00Z", keyArn: KEY }), eventTime: "yesterday" };
    const r = await read(trailFile([broken, noTime, records[0]]), false);
    expect(r.error).toBeUndefined();
    expect(r.badEvents).toBe(2);
    expect(r.badEventSample).toMatch(/without eventID/);
    expect(r.events).toHaveLength(1);
  });

  it("attributes calls a service makes on a principal's behalf, and takes the key from resources[]", async () => {
    const viaS3 = kmsRecord({ time: "2026-11-20T10:00:00Z", keyArn: KEY, invokedBy: "s3.amazonaws.com" });
    const service = {
      ...kmsRecord({ time: "2026-11-20T10:00:00Z", keyArn: KEY, name: "GenerateDataKey" }),
      userIdentity: { type: "AWSService", invokedBy: "secretsmanager.amazonaws.com" },
      sourceIPAddress: "secretsmanager.amazonaws.com",
      requestParameters: { keySpec: "AES_256" },
    };
    const r = await read(trailFile([viaS3, service]), false);
    expect(r.events.map((e) => [e.principal, e.via ?? null, e.keys])).toEqual([
      ["arn:aws:iam::111122223333:role/drop-app-runner", "s3.amazonaws.com", [KEY]],
      ["service:secretsmanager.amazonaws.com", null, [KEY]],
    ]);
  });
});
