// Reading a run of local CloudTrail files, in a parser thread or in the main thread: small files
// whole and synchronously (a real archive is mostly files of a few KB: per-file overhead is what
// counts), large files as streams handed over in parts (memory holds a part, never a file).
import { closeSync, createReadStream, fstatSync, openSync, readSync } from "node:fs";
import { readCloudTrail, readCloudTrailBuffer, SMALL_FILE } from "../scan.js";
import type { FileResult, ScanFilter } from "../types.js";

export interface LocalFile {
  path: string;
  /** Bytes on disk; -1 when the listing did not stat it (the reader does, on opening it). */
  size: number;
  gzip: boolean;
}

/** A whole small file, or its open descriptor and size when it is too large to read at once. */
function openLocal(file: string): { data: Buffer; size: number } | { fd: number; size: number } {
  const fd = openSync(file, "r");
  let keep = false;
  try {
    const size = fstatSync(fd).size;
    if (size > SMALL_FILE) {
      keep = true;
      return { fd, size };
    }
    const data = Buffer.allocUnsafe(size);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, data, at, size - at, null);
      if (n === 0) break;
      at += n;
    }
    return { data: at === size ? data : data.subarray(0, at), size };
  } finally {
    if (!keep) closeSync(fd);
  }
}

/**
 * Read `files` in order. `emit(results, done)` gets the results (a large file's parts as they are
 * read, each awaited; small files' results together at the end); `done` marks the last call.
 */
export async function readFileRun(files: LocalFile[], filter: ScanFilter, emit: (results: FileResult[], done: boolean) => void | Promise<void>): Promise<void> {
  const results: FileResult[] = [];
  for (const f of files) {
    let opened: ReturnType<typeof openLocal>;
    try {
      opened = openLocal(f.path);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      results.push({ file: f.path, bytes: 0, compressedBytes: 0, records: 0, kmsEvents: 0, events: [], badEvents: 0, error: `${e.code ?? "error"}: ${e.message}` });
      continue;
    }
    const options = { name: f.path, gzip: f.gzip, filter, compressedBytes: opened.size };
    if ("data" in opened) {
      results.push(readCloudTrailBuffer(opened.data, options));
      continue;
    }
    if (results.length) await emit(results.splice(0), false);
    const stream = createReadStream(f.path, { fd: opened.fd, highWaterMark: 1 << 20 });
    results.push(await readCloudTrail(stream, { ...options, onPart: (part) => emit([part], false) }));
  }
  await emit(results, true);
}
