// An AWS endpoint that accepts the connection and never answers: every call is bounded (policy
// awsTimeout per attempt), so the whole command ends within the bound, exit 1. Hung after its
// intent, the outcome says "unknown: the call did not return", the key's state is read back and
// the next command is named. Also: an emergency disable is not held up by a lock left by a dead
// process or one whose pid now belongs to an unrelated process.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processStart } from "../../src/lib/journal/process-identity.js";
import { signRequest } from "../support/approvers.js";
import { cliAwsEnv, kmsClient, kmsUrl } from "../support/aws.js";
import { BIN } from "../support/cli.js";
import { emulatorEndpoints, suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.js";
import { faultTally } from "./tally.js";

const tally = faultTally("aws-timeout");
const s = suffix();
const names = { hung: `to-hung-${s}`, dead: `to-dead-${s}`, locked: `to-locked-${s}`, abandoned: `to-abandoned-${s}` };
let w: World;
let proxy: FaultProxy;
let blackhole: FaultProxy;
const keyIds: Record<string, string> = {};
const AWS_TIMEOUT_S = 1;

beforeAll(async () => {
  proxy = await startFaultProxy(kmsUrl("eu-north-1"));
  blackhole = await startFaultProxy(kmsUrl("eu-north-1"), () => "blackhole");
  w = await makeWorld("faults-timeout", {
    inventory: [kmsEntry(names.hung), kmsEntry(names.dead, { region: "eu-west-1" }), kmsEntry(names.locked), kmsEntry(names.abandoned)],
    endpoints: { ...emulatorEndpoints(), kms: { "eu-north-1": proxy.url, "eu-west-1": blackhole.url } },
    awsTimeout: AWS_TIMEOUT_S,
  });
  for (const [name, region] of [[names.hung, "eu-north-1"], [names.locked, "eu-north-1"], [names.abandoned, "eu-north-1"]] as const) {
    const kms = kmsClient(region);
    const key = await kms.send(new CreateKeyCommand({ Description: name }));
    await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.KeyMetadata!.KeyId! }));
    keyIds[name] = key.KeyMetadata!.KeyId!;
  }
});
afterAll(async () => {
  await proxy?.close();
  await blackhole?.close();
});

describe("an AWS endpoint that accepts and never answers", () => {
  it("DisableKey hung after the intent: exit 1 within the bound, outcome unknown, state read back, next command named", async () => {
    proxy.rule = (op) => (op === "DisableKey" ? "blackhole" : "forward");
    tally.inject();
    const started = Date.now();
    const r = await w.approved(["disable", names.hung, "--reason", "leaked", "--incident", `INC-TO-${s}`], [w.alem], { AWS_MAX_ATTEMPTS: "2" });
    const ms = Date.now() - started;
    proxy.rule = () => "forward";
    expect(r.code, r.stderr).toBe(1);
    expect(proxy.counts["DisableKey:blackhole"]).toBe(2); // two attempts, each cut at awsTimeout
    expect(ms).toBeLessThan(30_000);
    expect(r.stderr).toMatch(/unknown: the call did not return/);
    expect(r.stderr).toMatch(/State now: .*Enabled/);
    expect(r.stderr).toMatch(new RegExp(`Next: dropkeys disable ${names.hung}`));
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const [intent, outcome] = w.journal().filter((e) => e.operation === "disable").slice(-2) as Record<string, unknown>[];
    expect(intent).toMatchObject({ type: "intent" });
    expect(outcome).toMatchObject({ type: "outcome", intentSeq: intent!.seq, outcome: "unknown", error: { code: "aws.timeout" } });
    expect(String(outcome!.state)).toMatch(/Enabled/);
    expect((outcome!.next as string[])[0]).toContain(`dropkeys disable ${names.hung}`);
    // The key really is as the outcome says, and the named command finishes the job.
    expect((await kmsClient().send(new DescribeKeyCommand({ KeyId: keyIds[names.hung] }))).KeyMetadata!.KeyState).toBe("Enabled");
    const again = await w.approved(["disable", names.hung, "--reason", "leaked", "--incident", `INC-TO-${s}`], [w.alem]);
    expect(again.code, again.stderr).toBe(0);
    expect((await kmsClient().send(new DescribeKeyCommand({ KeyId: keyIds[names.hung] }))).KeyMetadata!.KeyState).toBe("Disabled");
    expect(new Set(w.journal().filter((e) => e.type === "intent").map((e) => e.seq)).size).toBe(
      w.journal().filter((e) => e.type === "outcome").map((e) => e.intentSeq).filter(Boolean).length,
    );
    tally.recovered();
  });

  it("a dead endpoint from the first call: exit 1 within the bound, nothing journalled as done", async () => {
    tally.inject();
    const before = w.journal().length;
    const started = Date.now();
    const r = await w.cli(["disable", names.dead, "--reason", "leaked"], { AWS_MAX_ATTEMPTS: "1" });
    const ms = Date.now() - started;
    expect(r.code, r.stderr).toBe(1);
    expect(ms).toBeLessThan(20_000);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(w.journal().length).toBe(before);
    tally.recovered();
  });
});

describe("Ctrl-C while an AWS call hangs", () => {
  it("the first is noted, the second journals the outcome interrupted and exits 130 at once", async () => {
    proxy.rule = (op) => (op === "DisableKey" ? "blackhole" : "forward");
    const requestFile = path.join(w.dir, "abandon.request.json");
    const args = ["disable", names.abandoned, "--reason", "leaked", "--incident", `INC-AB-${s}`];
    expect((await w.cli([...args, "--request-out", requestFile])).code).toBe(0);
    const hungBefore = proxy.counts["DisableKey:blackhole"] ?? 0;
    const child = spawn(process.execPath, [BIN, ...args, "--request", requestFile, "--approval", signRequest(requestFile, w.alem), "--policy", w.policyFile, "--journal", w.journalDir], {
      cwd: w.dir,
      // Ten attempts of one second each: the call hangs far longer than the two signals take.
      env: { ...process.env, ...cliAwsEnv, AWS_MAX_ATTEMPTS: "10", CI: "true", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      // Signal only once DisableKey is in flight (after the intent).
      for (let i = 0; i < 1500 && (proxy.counts["DisableKey:blackhole"] ?? 0) === hungBefore; i++) await new Promise((r) => setTimeout(r, 20));
      tally.inject();
      child.kill("SIGINT");
      await new Promise((r) => setTimeout(r, 300));
      const sentAt = Date.now();
      child.kill("SIGINT");
      expect(await exited, stderr).toBe(130);
      expect(Date.now() - sentAt).toBeLessThan(2_000);
    } finally {
      proxy.rule = () => "forward";
    }
    expect(stderr).toMatch(/Ctrl-C again to abandon/);
    const [intent, outcome] = w.journal().filter((e) => e.operation === "disable").slice(-2) as Record<string, unknown>[];
    expect(intent).toMatchObject({ type: "intent", requestId: JSON.parse(readFileSync(requestFile, "utf8")).id });
    expect(outcome).toMatchObject({ type: "outcome", intentSeq: intent!.seq, outcome: "interrupted" });
    expect(String(outcome!.state)).toMatch(/abandoned by a second Ctrl-C/);
    tally.recovered();
  });
});

describe("an emergency disable and a stale lock", () => {
  it("is not held up by a lock of a dead process, nor of a live unrelated process (pid reused)", async () => {
    const other = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const lock = path.join(w.journalDir, "internkontroll.lock");
      tally.inject();
      writeFileSync(lock, JSON.stringify({ pid: other.pid, host: hostname(), start: String(Number(processStart(other.pid!)) + 12345), since: "2026-12-02T10:00:00Z", command: "shred-user" }));
      const started = Date.now();
      const r = await w.approved(["disable", names.locked, "--reason", "leaked", "--incident", `INC-LK-${s}`], [w.alem]);
      expect(r.code, r.stderr).toBe(0);
      // The lock wait is 10 s; a run that waited for this lock would fail with exit 5 after it.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await kmsClient().send(new DescribeKeyCommand({ KeyId: keyIds[names.locked] }))).KeyMetadata!.KeyState).toBe("Disabled");
      tally.recovered();
    } finally {
      other.kill("SIGKILL");
    }
  });
});
