// Preload (`node --import`) that records every package a process loads through require() (the
// SDK's CommonJS packages, loaded lazily by src/lib/aws/clients.ts) to DROPKEYS_TRACE_IMPORTS,
// next to what import-hooks.mjs records for ES imports.
import { appendFileSync } from "node:fs";
import Module from "node:module";

const load = Module._load;
Module._load = function (request, ...rest) {
  if (process.env.DROPKEYS_TRACE_IMPORTS && !request.startsWith(".") && !request.startsWith("node:") && !request.startsWith("/")) {
    appendFileSync(process.env.DROPKEYS_TRACE_IMPORTS, request + "\n");
  }
  return load.call(this, request, ...rest);
};
