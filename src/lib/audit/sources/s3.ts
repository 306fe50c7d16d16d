// A trail's archive in S3: AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz. Only the
// day prefixes inside the window are listed; objects are downloaded a few at a time and
// gunzipped and scanned as they stream in, so no object (let alone the archive) is held whole.
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import { awsErrorName, failure, usageError } from "../../errors.js";
import { readCloudTrail } from "../scan.js";
import type { FileResult, ScanFilter } from "../types.js";
import { InOrder } from "./ordered.js";

export interface S3Location {
  bucket: string;
  prefix: string;
}

export interface S3Object {
  key: string;
  size: number;
}

export interface S3Listing {
  objects: S3Object[];
  accounts: string[];
  regions: string[];
  /** Day prefixes listed. */
  prefixes: number;
  ignored: number;
}

const DAY = 86_400_000;

export function parseS3Url(text: string): S3Location {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(text);
  if (!m) throw usageError(`--source ${text}: expected s3://BUCKET or s3://BUCKET/PREFIX`);
  return { bucket: m[1]!, prefix: m[2] ?? "" };
}

/** The UTC day prefixes (YYYY/MM/DD/) that can hold events of the window; late deliveries land a day later. */
export function dayPrefixes(since: number, until: number, now = Date.now()): string[] {
  const out: string[] = [];
  const last = Math.min(until + DAY, Math.max(now, until));
  for (let t = Math.floor(since / DAY) * DAY; t <= last; t += DAY) out.push(new Date(t).toISOString().slice(0, 10).replaceAll("-", "/") + "/");
  return out;
}

async function listPrefixes(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: "/", ContinuationToken: token }));
    for (const p of page.CommonPrefixes ?? []) if (p.Prefix) out.push(p.Prefix);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

async function listObjects(s3: S3Client, bucket: string, prefix: string): Promise<S3Object[]> {
  const out: S3Object[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Find the accounts and regions under the prefix, then list the day prefixes of the window. */
export async function listArchive(s3: S3Client, loc: S3Location, options: { regions: string[] | null; since: number; until: number }): Promise<S3Listing> {
  try {
    return await discover(s3, loc, options);
  } catch (error) {
    const name = awsErrorName(error);
    throw failure(`cannot list s3://${loc.bucket}/${loc.prefix}: ${name ?? "error"}: ${(error as Error).message}`, {
      code: "audit.s3",
      hint: name === "NoSuchBucket" ? "Check the bucket name (the trail's S3BucketName)." : "The audit needs s3:ListBucket and s3:GetObject on the trail's bucket; --region sets the bucket's region.",
      cause: error,
    });
  }
}

async function discover(s3: S3Client, loc: S3Location, options: { regions: string[] | null; since: number; until: number }): Promise<S3Listing> {
  const segments = loc.prefix.split("/").filter(Boolean);
  const at = segments.indexOf("AWSLogs");
  const root = at >= 0 ? segments.slice(0, at + 1).join("/") + "/" : (segments.length ? segments.join("/") + "/" : "") + "AWSLogs/";
  const below = at >= 0 ? segments.slice(at + 1) : [];
  // Below AWSLogs/: an organisation trail adds o-ORGID/ before the account.
  let accountPrefixes: string[];
  if (below[0]) {
    accountPrefixes = below[0].startsWith("o-") ? (below[1] ? [`${root}${below[0]}/${below[1]}/`] : await listPrefixes(s3, loc.bucket, `${root}${below[0]}/`)) : [`${root}${below[0]}/`];
  } else {
    accountPrefixes = [];
    for (const p of await listPrefixes(s3, loc.bucket, root)) {
      if (/\/o-[a-z0-9]+\/$/.test(p)) accountPrefixes.push(...(await listPrefixes(s3, loc.bucket, p)));
      else accountPrefixes.push(p);
    }
  }
  const regionFilter = below.find((s) => /^[a-z]{2}(-[a-z]+)+-\d$/.test(s));
  const listing: S3Listing = { objects: [], accounts: [], regions: [], prefixes: 0, ignored: 0 };
  const days = dayPrefixes(options.since, options.until);
  const regions = new Set<string>();
  for (const accountPrefix of accountPrefixes) {
    const account = accountPrefix.split("/").filter(Boolean).pop()!;
    if (!/^\d{12}$/.test(account)) continue;
    listing.accounts.push(account);
    for (const regionPrefix of await listPrefixes(s3, loc.bucket, `${accountPrefix}CloudTrail/`)) {
      const region = regionPrefix.split("/").filter(Boolean).pop()!;
      if (regionFilter && region !== regionFilter) continue;
      if (options.regions && !options.regions.includes(region)) continue;
      regions.add(region);
      for (const day of days) {
        listing.prefixes++;
        for (const o of await listObjects(s3, loc.bucket, `${regionPrefix}${day}`)) {
          if (/\.json(\.gz)?$/.test(o.key)) listing.objects.push(o);
          else listing.ignored++;
        }
      }
    }
  }
  listing.regions = [...regions].sort();
  return listing;
}

/**
 * Download and read the objects, `concurrency` at a time, delivered in the listing's order (a
 * download ahead of the head waits once it holds a part); a vanished or unreadable object is a
 * skipped file.
 */
export async function readS3Objects(
  s3: S3Client,
  bucket: string,
  objects: S3Object[],
  filter: ScanFilter,
  concurrency: number,
  onResult: (result: FileResult) => void,
): Promise<void> {
  const order = new InOrder(onResult);
  const lanes = Math.max(1, Math.min(concurrency, objects.length));
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const i = next++;
      const o = objects[i]!;
      await order.within(i, lanes * 2);
      const name = `s3://${bucket}/${o.key}`;
      let body: Readable;
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key }));
        body = out.Body as Readable;
      } catch (error) {
        const code = awsErrorName(error);
        const reason = code === "NoSuchKey" ? "the object vanished between listing and download (NoSuchKey)" : `cannot download it (${code ?? "error"}: ${(error as Error).message})`;
        await order.push(i, [{ file: name, bytes: 0, compressedBytes: 0, records: 0, kmsEvents: 0, events: [], badEvents: 0, error: reason }], true);
        continue;
      }
      const last = await readCloudTrail(body, { name, gzip: o.key.endsWith(".gz"), filter, compressedBytes: o.size, onPart: (part) => order.push(i, [part], false) });
      await order.push(i, [last], true);
    }
  };
  await Promise.all(Array.from({ length: lanes }, worker));
}
