// Test policies: the bundled policy's shape, with endpoints pointing at the emulators the
// harness started, unique inventory names so test files never see each other's keys.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { stringify } from "yaml";

export function emulatorEndpoints(): Record<string, unknown> {
  const json = process.env.DROPKEYS_EMULATOR_ENDPOINTS;
  if (!json) throw new Error("DROPKEYS_EMULATOR_ENDPOINTS is not set: run the tests with `npm test` (the harness starts the emulators)");
  return JSON.parse(json) as Record<string, unknown>;
}

/** A short random suffix for names unique to one test. */
export function suffix(): string {
  return randomBytes(4).toString("hex");
}

/** Write a policy YAML into `dir`; `policy` is merged over a minimal valid base. */
export function writePolicy(dir: string, policy: Record<string, unknown>, file = "policy.yaml"): string {
  const full = {
    version: 1,
    region: "eu-north-1",
    endpoints: emulatorEndpoints(),
    roles: { "drop-key-admin": { principals: [] }, "drop-app-runner": { principals: [] } },
    ...policy,
  };
  const target = path.join(dir, file);
  writeFileSync(target, stringify(full));
  return target;
}
