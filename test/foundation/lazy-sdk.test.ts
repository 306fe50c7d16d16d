// SDK clients are loaded when first made: `status` (KMS and Secrets Manager) never loads the S3
// or CloudTrail packages, and a command that calls no AWS (`log verify`) loads no SDK client at
// all. Both kinds of loading are traced: ES imports and the require() behind the clients.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliAwsEnv } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { suffix, writePolicy } from "../support/policy.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-lazy-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function loadedBy(args: string[]): Promise<{ code: number | null; packages: string[] }> {
  const trace = path.join(dir, `trace-${suffix()}.txt`);
  writeFileSync(trace, "");
  const r = await runCli(args, {
    nodeArgs: ["--import", path.resolve("test/support/trace-imports.mjs"), "--import", path.resolve("test/support/trace-requires.mjs")],
    env: { ...cliAwsEnv, DROPKEYS_TRACE_IMPORTS: trace },
  });
  return { code: r.code, packages: [...new Set(readFileSync(trace, "utf8").split("\n").filter((l) => l.startsWith("@aws-sdk/client-")))] };
}

describe("SDK clients are loaded when first used", () => {
  it("status loads the KMS and Secrets Manager clients it calls, not S3 or CloudTrail", async () => {
    const policy = writePolicy(dir, {
      inventory: [
        { name: `lazy-key-${suffix()}`, kind: "kms-key", rotation: "annual" },
        { name: `LAZY_SECRET_${suffix()}`, kind: "secret", rotation: "quarterly", source: "provider" },
      ],
    });
    const { code, packages } = await loadedBy(["status", "--policy", policy, "--journal", path.join(dir, "legal"), "--json"]);
    expect(code).toBe(4); // the entries do not exist: findings, but a complete run
    expect(packages).toEqual(expect.arrayContaining(["@aws-sdk/client-kms", "@aws-sdk/client-secrets-manager"]));
    expect(packages).not.toContain("@aws-sdk/client-s3");
    expect(packages).not.toContain("@aws-sdk/client-cloudtrail");
  });

  it("log verify, which calls no AWS, loads no SDK client", async () => {
    const { code, packages } = await loadedBy(["log", "verify", "--journal", path.join(dir, "legal")]);
    expect(code).toBe(0);
    expect(packages).toEqual([]);
  });
});
