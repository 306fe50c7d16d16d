// Reading a run of local CloudTrail files, in a parser thread or in the main thread: small files
// whole and synchronously (a real archive is mostly files of a few KB: per-file overhead is what
// counts), large files as streams handed over in parts (memory holds a part, never a file).
import { createReadStream, readFileSync } from "node:fs";
import { readCloudTrail, readCloudTrailBuffer, SMALL_FILE } from "../scan.js";
import type { FileResult, ScanFilter } from "../types.js";

export interface LocalFile {
  path: string;
  size: number;
  gzip: boolean;
}

/**
 * Read `files` in order. `emit(results, done)` gets the results (a large file's parts as they are
 * read, each awaited; small files' results together at the end); `done` marks the last call.
 */
export async function readFileRun(files: LocalFile[], filter: ScanFilter, emit: (results: FileResult[], done: boolean) => void | Promise<void>): Promise<void> {
  const results: FileResult[] = [];
  for (const f of files) {
    const options = { name: f.path, gzip: f.gzip, filter, compressedBytes: f.size };
    if (f.size <= SMALL_FILE) {
      let data: Buffer;
      try {
        data = readFileSync(f.path);
      } catch (error) {
        const e = error as NodeJS.ErrnoException;
        results.push({ file: f.path, bytes: 0, compressedBytes: f.size, records: 0, kmsEvents: 0, events: [], badEvents: 0, error: `${e.code ?? "error"}: ${e.message}` });
        continue;
      }
      results.push(readCloudTrailBuffer(data, options));
      continue;
    }
    if (results.length) await emit(results.splice(0), false);
    const last = await readCloudTrail(createReadStream(f.path, { highWaterMark: 1 << 20 }), { ...options, onPart: (part) => emit([part], false) });
    results.push(last);
  }
  await emit(results, true);
}
