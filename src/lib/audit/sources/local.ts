// A local copy of a trail's archive: one file, or a directory tree of .json.gz / .json files
// (as `aws s3 sync` leaves them). Parsed by one worker thread per core.
import { existsSync, readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { createReadStream } from "node:fs";
import { usageError } from "../../errors.js";
import { readCloudTrail } from "../scan.js";
import type { FileResult, ScanFilter } from "../types.js";
import type { WorkerJob } from "../worker.js";

export interface LocalFile {
  path: string;
  size: number;
  gzip: boolean;
}

export interface LocalListing {
  files: LocalFile[];
  /** Digest files and files that are not .json / .json.gz. */
  ignored: number;
  /** Files whose name says they were delivered well outside the window. */
  outsideWindow: number;
}

const DAY = 86_400_000;
// Measured on the bench archive: 6 MB of young generation costs no time and keeps each thread
// ~40 MB smaller than 8 MB does; the old generation holds at most one file's events.
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 6, maxOldGenerationSizeMb: 192 };
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
    if (base.includes("CloudTrail-Digest") || !/\.json(\.gz)?$/i.test(base)) {
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
        else if (entry.isFile()) visit(full, statSync(full).size);
      }
    };
    walk(target);
  }
  listing.files.sort((a, b) => a.path.localeCompare(b.path));
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

/**
 * Read the files with `workers` parser threads (0 = in this thread); `onResult` gets each file's
 * result in this thread as it completes, in no particular order.
 */
export async function readLocalFiles(files: LocalFile[], filter: ScanFilter, workers: number, onResult: (result: FileResult) => void): Promise<void> {
  const script = workerScript();
  if (workers <= 0 || !script || files.length <= 1) {
    // Two files at a time even here: one gunzips on libuv's thread pool while the other is scanned.
    let next = 0;
    const lane = async () => {
      while (next < files.length) {
        const f = files[next++]!;
        onResult(await readCloudTrail(createReadStream(f.path, { highWaterMark: 1 << 20 }), { name: f.path, gzip: f.gzip, filter, compressedBytes: f.size }));
      }
    };
    await Promise.all([lane(), lane()]);
    return;
  }
  const count = Math.min(workers, files.length);
  let next = 0;
  const lane = () =>
    new Promise<void>((resolve) => {
      // A small young generation: a parser's garbage is short-lived, and RSS must stay bounded.
      const worker = new Worker(script, { workerData: { filter }, resourceLimits: WORKER_LIMITS });
      let current: LocalFile | undefined;
      const feed = () => {
        if (next >= files.length) {
          current = undefined;
          void worker.terminate().then(() => resolve());
          return;
        }
        current = files[next++]!;
        const job: WorkerJob = { id: next, path: current.path, gzip: current.gzip, size: current.size };
        worker.postMessage(job);
      };
      worker.on("message", (msg: { result: FileResult }) => {
        onResult(msg.result);
        feed();
      });
      // A parser thread that dies (out of memory on a monstrous file) costs that file, not the audit.
      worker.on("error", (error) => {
        if (current) onResult({ file: current.path, bytes: 0, compressedBytes: current.size, records: 0, kmsEvents: 0, events: [], badEvents: 0, error: `the parser thread failed on it (${error.message})` });
        void lane().then(resolve);
      });
      feed();
    });
  await Promise.all(Array.from({ length: count }, lane));
}
