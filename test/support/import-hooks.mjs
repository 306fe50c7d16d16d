// ESM resolve hook: records every bare package specifier a process imports to the file in
// DROPKEYS_TRACE_IMPORTS (the "--help loads no AWS SDK" test).
import { appendFileSync } from "node:fs";

export async function resolve(specifier, context, next) {
  if (process.env.DROPKEYS_TRACE_IMPORTS && !specifier.startsWith(".") && !specifier.startsWith("node:") && !specifier.startsWith("file:")) {
    appendFileSync(process.env.DROPKEYS_TRACE_IMPORTS, specifier + "\n");
  }
  return next(specifier, context);
}
