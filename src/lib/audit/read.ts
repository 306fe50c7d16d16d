// Reading one source (LookupEvents, a trail's S3 archive, a local copy) for both audits: the files
// are listed and read by the source modules; this adds up what was read, warns about and counts
// what had to be skipped, shows progress, and hands each file's result to the audit.
import type { Context } from "../context.js";
import { usageError } from "../errors.js";
import { parseTimeArg } from "../time.js";
import type { AuditReport, ReadStats } from "./report.js";
import { readApi } from "./sources/api.js";
import { defaultWorkers, listLocal, readLocalFiles } from "./sources/local.js";
import { listArchive, parseS3Url, readS3Objects } from "./sources/s3.js";
import { SEVERITIES, type FileResult, type ScanFilter, type Severity, type SkippedInput } from "./types.js";

const SKIPPED_LISTED = 1000;

export type SourceKind = "api" | "s3" | "local";

export function sourceKind(source: string): SourceKind {
  return source === "api" ? "api" : source.startsWith("s3://") ? "s3" : "local";
}

/** The flags both audits take: output format, --fail-on, the window, parallelism and the source. */
export interface AuditFlags {
  source: string;
  since: string;
  until: string;
  failOn: string;
  json?: boolean | undefined;
  ndjson: boolean;
  csv: boolean;
  concurrency: string;
  workers?: string | undefined;
}

/** Checks and parses the shared audit flags (exit 2 on any problem, before anything is read). */
export function parseAuditFlags(options: AuditFlags) {
  if ([options.json, options.ndjson, options.csv].filter(Boolean).length > 1) throw usageError("--json, --ndjson and --csv are alternatives: choose one");
  const failOn = options.failOn as Severity | "none";
  if (failOn !== "none" && !SEVERITIES.includes(failOn)) throw usageError(`--fail-on: expected ${SEVERITIES.join(", ")} or none, got "${options.failOn}"`);
  const now = new Date();
  const since = parseTimeArg(options.since, "--since", now);
  const until = parseTimeArg(options.until, "--until", now);
  if (since.getTime() >= until.getTime()) throw usageError(`--since (${since.toISOString()}) must be before --until (${until.toISOString()})`);
  const kind = sourceKind(options.source);
  if (kind === "s3") parseS3Url(options.source);
  return {
    failOn,
    now,
    since,
    until,
    workers: wholeNumber(options.workers, "--workers", defaultWorkers(), 0),
    concurrency: wholeNumber(options.concurrency, "--concurrency", 8, 1),
    kind,
  };
}

function wholeNumber(text: string | undefined, option: string, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw usageError(`${option}: expected a whole number >= ${min}, got "${text}"`);
  return n;
}

export interface ReadRequest {
  source: string;
  filter: ScanFilter;
  /** Regions to read (API) or to list in the archive; null = every region in the archive. */
  regions: string[];
  allRegions: boolean;
  /** API only: key ARNs per region, looked up by ResourceName. */
  keysByRegion?: Map<string, string[]> | undefined;
  /** API only: the event sources to look up (default KMS). */
  eventSources?: string[];
  workers: number;
  concurrency: number;
  /** What the progress line counts ("KMS events"). */
  counting: (read: ReadStats) => string;
}

export interface ReadResult {
  read: ReadStats;
  skipped: SkippedInput[];
  skippedTotal: number;
  sources: AuditReport["sources"];
  /** When the reading itself started (listing done). */
  readStarted: bigint;
}

/** Nothing read yet (also the reading of an engine that reads no files itself: Athena). */
export function emptyRead(): ReadResult {
  const read: ReadStats = { files: 0, filesSkipped: 0, filesIgnored: 0, filesOutsideWindow: 0, bytes: 0, compressedBytes: 0, records: 0, kmsEvents: 0, badEvents: 0 };
  return { read, skipped: [], skippedTotal: 0, sources: [], readStarted: process.hrtime.bigint() };
}

/** Read the source; `onFile` gets each readable file's result (events and changes) as it completes. */
export async function readSource(ctx: Context, request: ReadRequest, onFile: (result: FileResult) => void): Promise<ReadResult> {
  const out = ctx.out;
  const { filter } = request;
  const run = emptyRead();
  const read = run.read;
  let totalFiles = 0;
  const progress = out.progress("reading CloudTrail");
  const onResult = (r: FileResult) => {
    // A large file comes in parts: counts add up; the file is counted (or skipped) with its last part.
    if (!r.partial) read.files++;
    read.bytes += r.bytes;
    read.compressedBytes += r.compressedBytes;
    read.records += r.records;
    read.kmsEvents += r.kmsEvents;
    if (r.notLog) {
      // A digest or Config file found by its content: ignored like one found by its name.
      read.files--;
      read.filesIgnored++;
      return;
    }
    if (r.error) {
      read.filesSkipped++;
      run.skippedTotal++;
      if (run.skipped.length < SKIPPED_LISTED) run.skipped.push({ file: r.file, reason: r.error, scope: "file", count: 1 });
      out.warn(`${r.file}: ${r.error}; skipped`);
      return;
    }
    if (r.badEvents) {
      read.badEvents += r.badEvents;
      run.skippedTotal++;
      if (run.skipped.length < SKIPPED_LISTED) run.skipped.push({ file: r.file, reason: r.badEventSample ?? "malformed events", scope: "events", count: r.badEvents });
      out.warn(`${r.file}: ${r.badEvents} event${r.badEvents === 1 ? "" : "s"} without the expected fields skipped (${r.badEventSample ?? "malformed"})`);
    }
    onFile(r);
    const seconds = Number(process.hrtime.bigint() - run.readStarted) / 1e9;
    progress.update(`${read.files}${totalFiles ? `/${totalFiles}` : ""} files, ${request.counting(read)}, ${(read.bytes / 1e6 / seconds).toFixed(0)} MB/s`);
  };
  try {
    const kind = sourceKind(request.source);
    if (kind === "local") {
      const listing = listLocal(request.source, filter.since, filter.until);
      read.filesIgnored = listing.ignored;
      read.filesOutsideWindow = listing.outsideWindow;
      totalFiles = listing.files.length;
      run.readStarted = process.hrtime.bigint();
      run.sources.push({ kind: "local", location: request.source });
      await readLocalFiles(listing.files, filter, request.workers, onResult);
    } else if (kind === "s3") {
      const location = parseS3Url(request.source);
      const s3 = ctx.aws.s3(ctx.defaultRegion);
      const listing = await listArchive(s3, location, { regions: request.allRegions ? null : request.regions, since: filter.since, until: filter.until });
      read.filesIgnored = listing.ignored;
      totalFiles = listing.objects.length;
      run.readStarted = process.hrtime.bigint();
      run.sources.push({ kind: "s3", location: request.source, detail: { accounts: listing.accounts, regions: listing.regions, dayPrefixes: listing.prefixes, objects: listing.objects.length } });
      await readS3Objects(s3, location.bucket, listing.objects, filter, request.concurrency, onResult);
    } else {
      run.sources.push({ kind: "api", location: `CloudTrail LookupEvents in ${request.regions.join(", ")}` });
      const stats = await readApi((r) => ctx.aws.cloudtrail(r), { filter, regions: request.regions, keysByRegion: request.keysByRegion, ...(request.eventSources ? { eventSources: request.eventSources } : {}) }, onResult);
      read.requests = stats.requests;
      read.throttled = stats.throttled;
    }
  } catch (error) {
    progress.fail();
    throw error;
  }
  progress.done();
  return run;
}
