// Which policy file a command uses. Apart from load.ts so that shell completion can find the
// policy without loading the schema (zod) it does not need.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const BUNDLED_POLICY = fileURLToPath(new URL("../../../policy/drop.policy.yaml", import.meta.url));
export const LOCAL_POLICY = "dropkeys.policy.yaml";

/** Where the choice came from, for `policy check`. */
export type PolicySource = "option" | "env" | "local" | "bundled";

/** --policy, then DROPKEYS_POLICY, then ./dropkeys.policy.yaml, then the bundled default. */
export function locatePolicy(option: string | undefined, cwd = process.cwd()): { file: string; source: PolicySource } {
  if (option) return { file: path.resolve(cwd, option), source: "option" };
  const fromEnv = process.env.DROPKEYS_POLICY;
  if (fromEnv) return { file: path.resolve(cwd, fromEnv), source: "env" };
  const local = path.resolve(cwd, LOCAL_POLICY);
  if (existsSync(local)) return { file: local, source: "local" };
  return { file: BUNDLED_POLICY, source: "bundled" };
}
