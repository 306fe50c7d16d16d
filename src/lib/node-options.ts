// Defence in depth, not a guarantee: NODE_OPTIONS can load code into dropkeys before it starts
// (a preload that patches the approval check, a debugger port). A mutating command refuses to
// run with such options; someone who controls the machine can still run a patched copy, which
// is why the journal's mirror and CloudTrail are checked by others (README, Trust model).
import { usageError } from "./errors.js";

const INJECTING = /(?:^|\s)(--require|-r|--import|--loader|--experimental-loader|--inspect(?:-brk|-port|-wait)?)(?:[=\s]|$)/;

export function refuseInjectedNodeOptions(env: NodeJS.ProcessEnv = process.env): void {
  const options = env.NODE_OPTIONS ?? "";
  const found = INJECTING.exec(options);
  if (!found) return;
  throw usageError(`NODE_OPTIONS carries ${found[1]}: a mutating command does not run with code loaded into it from outside`, {
    code: "usage.node-options",
    hint: "Unset NODE_OPTIONS (or remove --require/--import/--loader/--inspect from it) and rerun.",
  });
}
