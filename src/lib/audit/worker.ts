// A parser thread: reads the local CloudTrail files it is sent and answers with their events.
// Loads only the scanner, so it starts in milliseconds.
import { createReadStream } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { readCloudTrail } from "./scan.js";
import type { ScanFilter } from "./types.js";

export interface WorkerJob {
  id: number;
  path: string;
  gzip: boolean;
  size: number;
}

const filter = (workerData as { filter: ScanFilter }).filter;
parentPort!.on("message", (job: WorkerJob) => {
  void readCloudTrail(createReadStream(job.path, { highWaterMark: 1 << 20 }), { name: job.path, gzip: job.gzip, filter, compressedBytes: job.size }).then((result) =>
    parentPort!.postMessage({ id: job.id, result }),
  );
});
