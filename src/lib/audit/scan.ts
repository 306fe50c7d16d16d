// Reading CloudTrail log files as streams. A file is `{"Records":[{...},{...}]}`; the scanner
// finds each record's bytes without parsing them (a small state machine over strings and
// brackets), so only records that can be KMS events are handed to JSON.parse and a file is
// never held in memory whole.
import { createGunzip, gunzipSync } from "node:zlib";
import type { Readable } from "node:stream";
import { maybeSecretsManager, takeChange } from "./changes.js";
import { inScope, normalize } from "./normalize.js";
import type { FileResult, ScanFilter } from "./types.js";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const EMPTY = Buffer.alloc(0);
/** A record bigger than this is not CloudTrail's (its records are a few KB); refuse rather than grow. */
const MAX_RECORD = 32 * 1024 * 1024;
const NEEDLE = Buffer.from("kms.amazonaws.com");
const UNICODE_ESCAPE = Buffer.from("\\u");

export class NotCloudTrailError extends Error {}

/** A file that is not a log at all (a digest, an AWS Config file): ignored like digest files, not skipped. */
export class NotLogFileError extends Error {}

/** Top-level keys that say what a JSON file in a log bucket is, when it is not a trail log. */
const NOT_LOG_SHAPES: [key: string, what: string][] = [
  ["digestStartTime", "a CloudTrail digest file"],
  ["digestPublicKeyFingerprint", "a CloudTrail digest file"],
  ["configurationItems", "an AWS Config history or snapshot file"],
  ["configSnapshotId", "an AWS Config snapshot file"],
];

/**
 * Splits a CloudTrail file into records as bytes arrive. `onRecord(buf, start, end, maybeKms)`
 * gets each element of the top-level "Records" array; `maybeKms` is false only when the record
 * cannot have eventSource "kms.amazonaws.com": the text does not occur in it literally and it has
 * no \u escape (the only way JSON could spell it otherwise).
 */
export class RecordScanner {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private started = false;
  private closed = false;
  private expectKey = false;
  private inRecords = false;
  private sawRecords = false;
  private recStart = -1;
  private strStart = -1;
  private lastKey = "";
  /** The top-level keys seen (a few): they tell a digest or Config file from a damaged log. */
  private readonly topKeys = new Set<string>();
  private nextHit = -1;
  private nextEscape = -1;

  constructor(private readonly onRecord: (buf: Buffer, start: number, end: number, maybeKms: boolean) => void) {}

  push(chunk: Buffer): void {
    const buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.nextHit = -1;
    this.nextEscape = -1;
    const n = buf.length;
    let i = this.pos;
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    if (escaped && i < n) {
      escaped = false;
      i++;
    }
    while (i < n) {
      let c = buf[i]!;
      if (inString) {
        // Most bytes are inside strings: a tight loop to the next quote or backslash.
        while (c !== QUOTE && c !== BACKSLASH && ++i < n) c = buf[i]!;
        if (i >= n) break;
        if (c === BACKSLASH) {
          i += 2;
          if (i > n) {
            escaped = true;
            i = n;
          }
          continue;
        }
        inString = false;
        if (depth === 1 && this.expectKey) {
          this.lastKey = buf.toString("latin1", this.strStart + 1, i);
          if (this.topKeys.size < 32) this.topKeys.add(this.lastKey);
        }
        i++;
        continue;
      }
      switch (c) {
        case QUOTE:
          inString = true;
          this.strStart = i;
          break;
        case 0x7b: // {
          if (!this.started) this.started = true;
          else if (this.closed) throw new NotCloudTrailError("data after the end of the JSON document");
          depth++;
          if (depth === 1) this.expectKey = true;
          else if (depth === 3 && this.inRecords) this.recStart = i;
          break;
        case 0x7d: // }
          depth--;
          if (depth === 2 && this.inRecords && this.recStart >= 0) {
            this.emit(buf, this.recStart, i + 1);
            this.recStart = -1;
          } else if (depth === 0) this.closed = true;
          else if (depth < 0) throw new NotCloudTrailError("unbalanced braces");
          break;
        case 0x5b: // [
          if (!this.started) throw new NotCloudTrailError("the file is a JSON array, not a CloudTrail log ({\"Records\": [...]})");
          depth++;
          if (depth === 2 && this.lastKey === "Records" && !this.expectKey) {
            this.inRecords = true;
            this.sawRecords = true;
          }
          break;
        case 0x5d: // ]
          depth--;
          if (depth === 1) this.inRecords = false;
          break;
        case 0x2c: // ,
          if (depth === 1) this.expectKey = true;
          break;
        case 0x3a: // :
          if (depth === 1) this.expectKey = false;
          break;
        case 0x20:
        case 0x0a:
        case 0x0d:
        case 0x09:
          break;
        default:
          if (!this.started) throw new NotCloudTrailError("not JSON");
      }
      i++;
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    // Keep only the unfinished record (or the unfinished top-level key) for the next chunk.
    const keep = this.recStart >= 0 ? this.recStart : inString && depth <= 1 ? this.strStart : -1;
    if (keep < 0) {
      this.buf = EMPTY;
      this.pos = 0;
    } else {
      if (n - keep > MAX_RECORD) throw new NotCloudTrailError(`a record larger than ${MAX_RECORD >> 20} MB`);
      this.buf = keep === 0 && buf !== chunk ? buf : Buffer.from(buf.subarray(keep));
      this.pos = n - keep;
      if (this.recStart >= 0) this.recStart -= keep;
      if (this.strStart >= 0) this.strStart -= keep;
    }
  }

  /** After the last chunk: the document must be complete and have held a Records array. */
  end(): void {
    if (!this.started) throw new NotCloudTrailError("the file is empty");
    if (this.depth !== 0 || this.inString) throw new NotCloudTrailError("the JSON ends early (truncated file)");
    if (!this.sawRecords) {
      const shape = NOT_LOG_SHAPES.find(([key]) => this.topKeys.has(key));
      if (shape) throw new NotLogFileError(shape[1]);
      throw new NotCloudTrailError('not a CloudTrail log file (no "Records" array)');
    }
  }

  private emit(buf: Buffer, start: number, end: number): void {
    if (this.nextHit < start && this.nextHit !== Infinity) {
      const at = buf.indexOf(NEEDLE, start);
      this.nextHit = at < 0 ? Infinity : at;
    }
    let maybe = this.nextHit < end;
    if (!maybe) {
      if (this.nextEscape < start && this.nextEscape !== Infinity) {
        const at = buf.indexOf(UNICODE_ESCAPE, start);
        this.nextEscape = at < 0 ? Infinity : at;
      }
      maybe = this.nextEscape < end;
    }
    this.onRecord(buf, start, end, maybe);
  }
}

/** Parse one record's text into `result`: a KMS event in scope is kept, a malformed one counted. */
export function takeRecord(result: FileResult, text: string, filter: ScanFilter, keySet: Set<string> | null, unparseable: string): void {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    result.badEvents++;
    result.badEventSample ??= unparseable;
    return;
  }
  if (filter.changes) takeChange(result, record, filter);
  const normalized = normalize(record, filter);
  if ("skip" in normalized) return;
  if ("problem" in normalized) {
    result.badEvents++;
    result.badEventSample ??= normalized.problem;
    return;
  }
  result.kmsEvents++;
  if (inScope(normalized.event, filter, keySet)) result.events.push(normalized.event);
}

export interface ReadOptions {
  name: string;
  gzip: boolean;
  filter: ScanFilter;
  compressedBytes?: number;
  /**
   * Gets a large file's events in parts as they are read (memory then holds one part, not the
   * file); the returned promise holds the reading back until the consumer has taken the part.
   */
  onPart?: (part: FileResult) => void | Promise<void>;
}

/** Events per part of a large file. */
export const PART_EVENTS = 4096;
/** Files up to this size (compressed) are read whole and synchronously: no stream per file. */
export const SMALL_FILE = 4 << 20;

function emptyResult(name: string, compressedBytes = 0): FileResult {
  return { file: name, bytes: 0, compressedBytes, records: 0, kmsEvents: 0, events: [], badEvents: 0 };
}

function scannerFor(result: () => FileResult, filter: ScanFilter): RecordScanner {
  const keySet = filter.keys ? new Set(filter.keys) : null;
  return new RecordScanner((buf, start, end, maybeKms) => {
    const r = result();
    r.records++;
    if (maybeKms || (filter.changes && maybeSecretsManager(buf, start, end))) takeRecord(r, buf.toString("utf8", start, end), filter, keySet, "a record that is not valid JSON");
  });
}

/** Record a read failure in `result`: damage of the input is reported; a failure of our own is thrown. */
function settleError(result: FileResult, error: unknown, gzip: boolean): void {
  if (error instanceof NotLogFileError) {
    result.events = [];
    result.notLog = error.message;
    return;
  }
  if (!isInputError(error)) throw error;
  result.events = [];
  result.error = describeReadError(error, gzip);
}

/**
 * Read one small CloudTrail file held in memory (gzip or not): the fast path for the many small
 * files of a real archive (no stream, no gunzip object per file).
 */
export function readCloudTrailBuffer(data: Buffer, options: ReadOptions): FileResult {
  const result = emptyResult(options.name, options.compressedBytes ?? data.length);
  const scanner = scannerFor(() => result, options.filter);
  try {
    const text = options.gzip ? gunzipSync(data) : data;
    result.bytes = text.length;
    scanner.push(text);
    scanner.end();
  } catch (error) {
    settleError(result, error, options.gzip);
  }
  return result;
}

/**
 * Read one CloudTrail file from a byte stream: gunzip (when gzip), split, pre-filter, parse and
 * normalise the KMS events, keep those in scope. Damage (truncated gzip, not CloudTrail JSON) is
 * reported in `error`, never thrown: the caller warns, skips and counts. With `onPart`, events are
 * handed over in parts as they are read; the returned result is the last part.
 */
export async function readCloudTrail(input: Readable, options: ReadOptions): Promise<FileResult> {
  let result = emptyResult(options.name, options.compressedBytes ?? 0);
  const scanner = scannerFor(() => result, options.filter);
  let compressed = 0;
  if (options.compressedBytes === undefined) input.on("data", (chunk: Buffer) => (compressed += chunk.length));
  const stream: Readable = options.gzip ? input.pipe(createGunzip({ chunkSize: 256 * 1024 })) : input;
  // A pipe does not forward the source's errors (a vanished object, a read error): do it here.
  if (stream !== input) input.on("error", (error) => stream.destroy(error));
  try {
    for await (const chunk of stream) {
      result.bytes += (chunk as Buffer).length;
      scanner.push(chunk as Buffer);
      if (options.onPart && result.events.length >= PART_EVENTS) {
        const part = { ...result, partial: true, compressedBytes: 0 };
        result = emptyResult(options.name, result.compressedBytes);
        await options.onPart(part);
      }
    }
    scanner.end();
  } catch (error) {
    input.destroy();
    settleError(result, error, options.gzip);
  }
  if (options.compressedBytes === undefined) result.compressedBytes = options.gzip ? compressed : result.bytes;
  return result;
}

/** Damage of the input (its bytes, its download), as opposed to a failure of the tool itself. */
function isInputError(error: unknown): boolean {
  if (error instanceof NotCloudTrailError) return true;
  const e = error as { code?: unknown; name?: unknown; $metadata?: unknown };
  // zlib (Z_...), file system and socket (E...) errors, and AWS SDK errors of a download.
  return (typeof e?.code === "string" && /^(Z_|E[A-Z]|ERR_STREAM_PREMATURE_CLOSE)/.test(e.code)) || e?.$metadata !== undefined || e?.name === "AbortError";
}

function describeReadError(error: unknown, gzip: boolean): string {
  if (error instanceof NotCloudTrailError) return error.message;
  const e = error as NodeJS.ErrnoException & { name?: string };
  if (gzip && (e.code === "Z_BUF_ERROR" || /unexpected end of file/i.test(e.message ?? ""))) return "truncated gzip (the file ends early)";
  if (gzip && (e.code === "Z_DATA_ERROR" || /incorrect header|invalid/i.test(e.message ?? ""))) return `not a valid gzip file (${e.message})`;
  return e.code ? `${e.code}: ${e.message}` : (e.name && e.name !== "Error" ? `${e.name}: ${e.message}` : String(e.message ?? error));
}
