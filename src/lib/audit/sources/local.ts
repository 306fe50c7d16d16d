// A local copy of a trail's archive: one file, or a directory tree of .json.gz / .json files
// (as `aws s3 sync` leaves them). Read in runs of files by parser threads (one per core), the
// results delivered in the listing's order.
import { existsSync, readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, type ResourceLimits } from "node:worker_threads";
import { failure, usageError } from "../../errors.js";
import { SMALL_FILE } from "../scan.js";
import type { FileResult, ScanFilter } from "../types.js";
import type { WorkerJob, WorkerMessage } from "../worker.js";
import { readFileRun, type LocalFile } from "./files.js";
import { InOrder } from "./ordered.js";

export type { LocalFile } from "./files.js";

export interface LocalListing {
  files: LocalFile[];
  /** Digest, CloudTrail Insight and AWS Config files, and files that are not .json / .json.gz. */
  ignored: number;
  /** Files whose name says they were delivered well outside the window. */
  outsideWindow: number;
}

const DAY = 86_400_000;
// Measured on the bench archive: 6 MB of young generation costs no time and keeps each thread
// ~40 MB smaller than 8 MB does; the old generation holds a run of small files or one part.
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 6, maxOldGenerationSizeMb: 192 };
/** A run of small files sent to a thread at once: bounded in files and in bytes. */
const RUN_FILES = 256;
const RUN_BYTES = 8 << 20;
/**
 * What lies in a log bucket beside the logs: digests, Insights and AWS Config's deliveries
 * (AWSLogs/ACCOUNT/CloudTrail-Digest|CloudTrail-Insight|Config/..., and their file names).
 */
const NOT_LOG_PATH = /(^|[\\/])(CloudTrail-Digest|CloudTrail-Insight|Config)[\\/]|_CloudTrail-(Digest|Insight)_|_Config_|ConfigWritabilityCheckFile/;
/** CloudTrail's file names carry the delivery time: ACCOUNT_CloudTrail_REGION_20261123T1405Z_ID.json.gz */
const STAMP = /_CloudTrail_[a-z0-9-]+_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z_/;

export function listLocal(target: string, since: number, until: number): LocalListing {
  if (!existsSync(target)) {
    throw usageError(`--source ${target}: no such file or directory`, {
      hint: "Give `api`, an s3://BUCKET/PREFIX of a trail's archive, or a local directory or file of CloudTrail logs.",
    });
  }
  const listing: LocalListing = { files: [], ignored: 0, outsideWindow: 0 };
  const visit = (file: string, size: number) => {
    const base = path.basename(file);
    if (NOT_LOG_PATH.test(file.length > target.length ? file.slice(target.length) : base) || !/\.json(\.gz)?$/i.test(base)) {
      listing.ignored++;
      return;
    }
    const m = STAMP.exec(base);
    if (m) {
      // A file holds events from before its delivery time; a day's slack either side is safe.
      const delivered = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!);
      if (delivered < since - DAY || delivered > until + DAY) {
        listing.outsideWindow++;
        return;
      }
    }
    listing.files.push({ path: file, size, gzip: /\.gz$/i.test(base) });
  };
  const stat = statSync(target);
  if (stat.isFile()) visit(target, stat.size);
  else {
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        // No stat per file (100,000 files cost seconds): the reader learns the size as it opens one.
        else if (entry.isFile()) visit(full, -1);
      }
    };
    walk(target);
  }
  listing.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return listing;
}

/** The worker script beside this module (absent when running the TypeScript sources in tests). */
function workerScript(): string | undefined {
  const file = fileURLToPath(new URL("../worker.js", import.meta.url));
  return existsSync(file) ? file : undefined;
}

export function defaultWorkers(): number {
  return Math.max(1, Math.min(availableParallelism(), 8));
}

/** Consecutive small files go together (one message to a thread); a large file goes alone. */
export function fileRuns(files: LocalFile[]): LocalFile[][] {
  const runs: LocalFile[][] = [];
  let run: LocalFile[] = [];
  let bytes = 0;
  for (const f of files) {
    if (f.size > SMALL_FILE) {
      // Known to be large (a single file given): alone. Sizes learnt on opening are handled by the reader.
      if (run.length) runs.push(run);
      runs.push([f]);
      run = [];
      bytes = 0;
      continue;
    }
    if (run.length >= RUN_FILES || bytes + f.size > RUN_BYTES) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(f);
    bytes += Math.max(0, f.size);
  }
  if (run.length) runs.push(run);
  return runs;
}

const runName = (run: LocalFile[]) => (run.length === 1 ? run[0]!.path : `one of ${run.length} files ${run[0]!.path} .. ${run[run.length - 1]!.path}`);

/**
 * Read the files with `workers` parser threads (0 = in this thread); `onResult` gets each file's
 * result (a large file's in parts) in this thread, in the listing's order. A thread that fails
 * (out of memory, a bug) fails the run, naming the file: a file we could not read is never a
 * silent success.
 */
export async function readLocalFiles(
  files: LocalFile[],
  filter: ScanFilter,
  workers: number,
  onResult: (result: FileResult) => void,
  limits: ResourceLimits = WORKER_LIMITS,
): Promise<void> {
  const script = workerScript();
  const runs = fileRuns(files);
  const order = new InOrder(onResult);
  let next = 0;
  if (workers <= 0 || !script || runs.length === 0) {
    // Two runs at a time even here: one gunzips on libuv's thread pool while the other is scanned.
    const lane = async () => {
      while (next < runs.length) {
        const i = next++;
        await order.within(i, 4);
        await readFileRun(runs[i]!, filter, (results, done) => order.push(i, results, done));
      }
    };
    await Promise.all([lane(), lane()]);
    return;
  }
  const count = Math.min(workers, runs.length);
  const window = count * 2 + 2;
  const threads: Worker[] = [];
  let failed = false;
  const lane = () =>
    new Promise<void>((resolve, reject) => {
      // A small young generation: a parser's garbage is short-lived, and RSS must stay bounded.
      const worker = new Worker(script, { workerData: { filter }, resourceLimits: limits });
      threads.push(worker);
      let current = -1;
      const fail = (file: string, why: string) => {
        if (failed) return;
        failed = true;
        // The other threads too: the run is over, and a live thread would keep the process alive.
        for (const t of threads) void t.terminate();
        reject(
          failure(`${file}: dropkeys failed to read it (${why})`, {
            code: "audit.read",
            hint: "This is a failure of dropkeys, not of the file: the audit is incomplete. Run again with --workers 0, or report it.",
          }),
        );
      };
      const feed = async () => {
        if (next >= runs.length) {
          current = -1;
          await worker.terminate();
          resolve();
          return;
        }
        current = next++;
        await order.within(current, window);
        worker.postMessage({ chunk: current, files: runs[current]! } satisfies WorkerJob);
      };
      worker.on("message", (msg: WorkerMessage) => {
        if ("fatal" in msg) return fail(msg.file, msg.fatal);
        void order.push(msg.chunk, msg.results, msg.done).then(() => {
          if (msg.ack) worker.postMessage({ ack: msg.chunk });
          else if (msg.done) void feed();
        });
      });
      worker.on("error", (error) => fail(current >= 0 ? runName(runs[current]!) : "(no file)", `the parser thread died: ${error.message}`));
      void feed();
    });
  await Promise.all(Array.from({ length: count }, lane));
}
