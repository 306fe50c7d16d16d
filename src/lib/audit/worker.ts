// A parser thread: reads the runs of local CloudTrail files it is sent and answers with their
// results, a large file's in parts (waiting for the main thread to take each part). Loads only
// the scanner, so it starts in milliseconds.
import { parentPort, workerData } from "node:worker_threads";
import { readFileRun, type LocalFile } from "./sources/files.js";
import type { FileResult, ScanFilter } from "./types.js";

export interface WorkerJob {
  chunk: number;
  files: LocalFile[];
}

/** From the thread: results of a chunk (`done` on the last message); `ack`: wait for {ack: chunk}. */
export type WorkerMessage = { chunk: number; results: FileResult[]; done: boolean; ack: boolean } | { chunk: number; fatal: string; file: string };

const filter = (workerData as { filter: ScanFilter }).filter;
let acked: (() => void) | undefined;
parentPort!.on("message", (msg: WorkerJob | { ack: number }) => {
  if ("ack" in msg) {
    acked?.();
    return;
  }
  let current = msg.files[0]?.path ?? "";
  const emit = (results: FileResult[], done: boolean) => {
    if (done) {
      parentPort!.postMessage({ chunk: msg.chunk, results, done, ack: false } satisfies WorkerMessage);
      return;
    }
    current = results[0]?.file ?? current;
    return new Promise<void>((resolve) => {
      acked = resolve;
      parentPort!.postMessage({ chunk: msg.chunk, results, done, ack: true } satisfies WorkerMessage);
    });
  };
  readFileRun(msg.files, filter, emit).catch((error: unknown) => {
    // A failure of the tool itself (not damage of the file): the run must fail, naming the file.
    parentPort!.postMessage({ chunk: msg.chunk, fatal: error instanceof Error ? error.message : String(error), file: current } satisfies WorkerMessage);
  });
});
