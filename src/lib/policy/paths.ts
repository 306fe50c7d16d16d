// Paths written in the policy file (a `sqlite:` database, approvers' key files, report paths)
// name the same file whichever directory dropkeys runs from (cron, a runbook, a terminal): a
// relative one is resolved against the directory of the policy file, `~/` against the home
// directory of whoever runs dropkeys. Paths given on the command line or in the environment
// (DATABASE_URL, --journal) stay relative to the working directory, as on any command line.
import { homedir } from "node:os";
import path from "node:path";
// A symbol-keyed property: copies of the policy object ({...policy}) keep it, while JSON,
// canonical digests and seals never see it.
const POLICY_DIR = Symbol("dropkeys.policyDir");
type WithDir = { [POLICY_DIR]?: string };

/** Record the file a policy was read from (loadPolicy does this). */
export function rememberPolicyFile(policy: object, file: string): void {
  (policy as WithDir)[POLICY_DIR] = path.dirname(path.resolve(file));
}

/** The directory of the file the policy was read from; undefined for a policy built in memory. */
export function policyDir(policy: object): string | undefined {
  return (policy as WithDir)[POLICY_DIR];
}

/** A path written in the policy, made absolute (left as written when the policy has no file). */
export function resolvePolicyPath(policy: object, file: string): string {
  if (file === "~") return homedir();
  if (file.startsWith("~/")) return path.join(homedir(), file.slice(2));
  const dir = policyDir(policy);
  return dir === undefined ? file : path.resolve(dir, file);
}
