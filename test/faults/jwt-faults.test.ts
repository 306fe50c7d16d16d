// rotate-jwt killed (kill -9) during its deploy step, after the promotion: the same approved
// request runs again inside its own overlap, goes on from where it stopped (deploy included),
// closes the dead run's intent, and reports an overlap end that is still ahead.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CreateSecretCommand, ListSecretVersionIdsCommand } from "@aws-sdk/client-secrets-manager";
import { describe, expect, it } from "vitest";
import { Journal } from "../../src/lib/journal/journal.js";
import { versionTokenFor } from "../../src/lib/jwt/rotation.js";
import { approverEntries, makeSshApprover, sealRegistry, signRequest } from "../support/approvers.js";
import { cliAwsEnv, secretsClient } from "../support/aws.js";
import { BIN, runCli } from "../support/cli.js";
import { suffix, writePolicy } from "../support/policy.js";
import { faultTally } from "./tally.js";

const tally = faultTally("jwt-faults");
const sm = secretsClient();

describe("rotate-jwt resumes its own run", () => {
  it("killed during the deploy step: the same request finishes inside its overlap, deploy included", async () => {
    const work = mkdtempSync(path.join(tmpdir(), "dropkeys-faults-jwt-"));
    const alem = makeSshApprover(work, "alem", ["CISO", "security-lead"]);
    const name = `JWT_SECRET_${suffix()}`;
    // The first deploy hangs (the run is killed there); the second succeeds.
    const deploy = `if [ -f deployed-once ]; then echo "deployed $DROPKEYS_JWT_VERSION"; exit 0; fi; touch deployed-once; sleep 120`;
    const policyFile = writePolicy(work, {
      inventory: [{ name, kind: "secret", bytes: 32, encoding: "hex", rotation: "quarterly" }],
      approvers: approverEntries([alem]),
      approvals: { registry: { roles: ["*"] }, "rotate-jwt": { roles: ["security-lead"] } },
      jwt: { secret: name, tokenLifetime: "1h", cacheTtl: "1h", deployCommand: deploy },
    });
    const journalDir = path.join(work, "legal");
    await sealRegistry({ policyFile, journalDir, approvers: [alem] });
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: randomBytes(32).toString("hex") }));
    const g = ["--policy", policyFile, "--journal", journalDir];
    const requestFile = path.join(work, "request.json");
    expect((await runCli(["rotate-jwt", "--reason", "quarterly", "--request-out", requestFile, ...g], { env: cliAwsEnv, cwd: work })).code).toBe(0);
    const signature = signRequest(requestFile, alem);
    const run = ["rotate-jwt", "--request", requestFile, "--approval", signature, ...g];

    const child = spawn(process.execPath, [BIN, ...run], { cwd: work, env: { ...process.env, ...cliAwsEnv, CI: "true", NO_COLOR: "1" }, stdio: "ignore", detached: true });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    for (let i = 0; i < 3000 && !existsSync(path.join(work, "deployed-once")); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(path.join(work, "deployed-once"))).toBe(true);
    tally.inject();
    process.kill(-child.pid!, "SIGKILL"); // the CLI and its deploy command
    await exited;
    const killedIntent = new Journal(journalDir).verify().openIntents.find((e) => e.operation === "rotate-jwt")!;
    expect(killedIntent).toBeDefined();

    const again = await runCli(run, { env: cliAwsEnv, cwd: work });
    expect(again.code, again.stderr).toBe(0);
    const requestId = killedIntent.requestId!;
    expect(again.stdout).toContain(`deployed ${versionTokenFor(requestId)}`);
    const until = /keeps verifying \(AWSPREVIOUS\) until (\d{4}-\d\d-\d\d \d\d:\d\d)/.exec(again.stdout);
    expect(until, again.stdout).not.toBeNull();
    const journal = new Journal(journalDir);
    const entries = journal.entries();
    expect(entries.find((e) => e.type === "outcome" && e.intentSeq === killedIntent.seq)).toMatchObject({ outcome: "interrupted" });
    const outcome = entries.filter((e) => e.operation === "rotate-jwt" && e.type === "outcome").at(-1)!;
    expect(outcome).toMatchObject({ outcome: "succeeded", requestId, details: { newVersion: versionTokenFor(requestId), reused: true } });
    expect(Date.parse(String(outcome.details!.overlapEnds))).toBeGreaterThan(Date.now());
    expect(journal.verify()).toMatchObject({ ok: true, openIntents: [] });
    const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name }));
    expect(versions.Versions!.find((v) => v.VersionStages?.includes("AWSCURRENT"))!.VersionId).toBe(versionTokenFor(requestId));
    // Finished: the same request does not run a third time.
    expect((await runCli(run, { env: cliAwsEnv, cwd: work })).code).not.toBe(0);
    tally.recovered();
  }, 120_000);
});
