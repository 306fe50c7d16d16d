// reencrypt --reenable-source under faults, through a loopback proxy in front of the strict KMS
// emulator: kill -9 while the compromised source key is enabled (status flags it, the rerun
// disables it), SIGTERM while KMS throttles every ReEncrypt (exit 130 within 2 s, key disabled),
// the enabled time running out (reenableMaxDuration), and rows whose DEK KMS refuses
// (AccessDeniedException: listed and skipped, the run goes on).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { CreateAliasCommand, DescribeKeyCommand, DisableKeyCommand } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/lib/db/index.js";
import { dropDatabaseSection, seedDropDatabase } from "../../src/lib/envelope/seed.js";
import { Journal } from "../../src/lib/journal/journal.js";
import { signRequest } from "../support/approvers.js";
import { cliAwsEnv, kmsClient, kmsUrl } from "../support/aws.js";
import { BIN, type CliResult } from "../support/cli.js";
import { emulatorEndpoints, suffix } from "../support/policy.js";
import { createKmsKey } from "../db/support.js";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.js";
import { faultTally } from "./tally.js";

const tally = faultTally("reencrypt-faults");
const kms = kmsClient();
let proxy: FaultProxy;

interface Setup {
  w: World;
  db: Database;
  oldKey: { keyId: string; arn: string };
  oldName: string;
  newName: string;
}

async function setup(label: string, policy: Record<string, unknown> = {}): Promise<Setup> {
  const s = suffix();
  const oldName = `rf-old-${label}-${s}`;
  const newName = `rf-new-${label}-${s}`;
  const [oldKey, newKey] = await Promise.all([createKmsKey(), createKmsKey()]);
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${oldName}`, TargetKeyId: oldKey.keyId }));
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${newName}`, TargetKeyId: newKey.keyId }));
  const w = await makeWorld(`faults-reenc-${label}`, {
    inventory: [kmsEntry(oldName), kmsEntry(newName)],
    envelope: { key: newName, wrappedDekBytes: "auto" },
    database: dropDatabaseSection("combined", "sqlite:drop.db"),
    endpoints: { ...emulatorEndpoints(), kms: { "eu-north-1": proxy.url, "eu-west-1": kmsUrl("eu-west-1") } },
    ...policy,
  });
  const db = await openDatabase(`sqlite:${path.join(w.dir, "drop.db")}`, { create: true });
  await seedDropDatabase(db, { layout: "combined", kms, keyId: oldKey.keyId, users: 120, createSchema: true, dataKeys: 120 });
  // The compromise procedure disabled the key (step 3) before re-encrypting (step 5).
  await kms.send(new DisableKeyCommand({ KeyId: oldKey.keyId }));
  return { w, db, oldKey, oldName, newName };
}

beforeAll(async () => {
  proxy = await startFaultProxy(kmsUrl("eu-north-1"));
});
afterAll(async () => {
  await proxy?.close();
});

const keyState = async (keyId: string) => (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;

async function request(x: Setup, label: string): Promise<{ args: string[]; approvals: string[] }> {
  const args = ["reencrypt", "--from", x.oldName, "--to", x.newName, "--reenable-source", "--concurrency", "2", "--reason", `INC step 5 ${label}`];
  const requestFile = path.join(x.w.dir, `${label}-${suffix()}.request.json`);
  const r = await x.w.cli([...args, "--request-out", requestFile]);
  expect(r.code, r.stderr).toBe(0);
  return { args: [...args, "--request", requestFile], approvals: [x.w.alice, x.w.alem].flatMap((a) => ["--approval", signRequest(requestFile, a)]) };
}

async function approvedRun(x: Setup, label: string, extra: string[] = []): Promise<CliResult> {
  const { args, approvals } = await request(x, label);
  return x.w.cli([...args, ...approvals, ...extra]);
}

async function spawnRun(x: Setup, label: string) {
  const { args, approvals } = await request(x, label);
  const child = spawn(process.execPath, [BIN, ...args, ...approvals, "--policy", x.w.policyFile, "--journal", x.w.journalDir], {
    cwd: x.w.dir,
    env: { ...process.env, ...cliAwsEnv, CI: "true", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on("exit", (code) => resolve({ code, at: Date.now() })));
  return { child, exited, stderr: () => stderr };
}

const enableOutcomes = (x: Setup) =>
  existsSync(path.join(x.w.journalDir, "internkontroll.jsonl"))
    ? new Journal(x.w.journalDir).entries().filter((e) => e.operation === "reencrypt-enable-source" && e.type === "outcome" && e.outcome === "succeeded").length
    : 0;

/** Wait until the journal shows the source key enabled by the run (one more enable outcome than `before`). */
async function sourceEnabled(x: Setup, before: number): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (enableOutcomes(x) > before) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("the run never enabled the source key");
}

async function statusLeftEnabled(x: Setup): Promise<string[]> {
  const r = await x.w.cli(["status", "--json"]);
  return (JSON.parse(r.stdout) as { sourceKeysLeftEnabled: { keyId: string }[] }).sourceKeysLeftEnabled.map((k) => k.keyId);
}

describe("the compromised source key is never left Enabled", () => {
  let x: Setup;
  beforeAll(async () => {
    x = await setup("kill");
  }, 300_000);

  it("kill -9 while it is enabled: status flags it (exit 4); the rerun of --reenable-source disables it at the end", async () => {
    proxy.rule = (op) => (op === "ReEncrypt" ? "throttle" : "forward");
    const before = enableOutcomes(x);
    const run = await spawnRun(x, "killed");
    await sourceEnabled(x, before);
    await new Promise((r) => setTimeout(r, 300));
    tally.inject();
    run.child.kill("SIGKILL");
    await run.exited;
    proxy.rule = () => "forward";
    expect(await keyState(x.oldKey.keyId)).toBe("Enabled");
    const status = await x.w.cli(["status", "--json"]);
    expect(status.code).toBe(4);
    expect(await statusLeftEnabled(x)).toEqual([x.oldKey.keyId]);
    const open = new Journal(x.w.journalDir).verify().openIntents;
    expect(open.map((e) => e.operation)).toContain("reencrypt");

    const rerun = await approvedRun(x, "rerun");
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/left Enabled by an interrupted run .* this run disabled it again/);
    expect(await keyState(x.oldKey.keyId)).toBe("Disabled");
    expect(await statusLeftEnabled(x)).toEqual([]);
    const journal = new Journal(x.w.journalDir);
    expect(journal.verify()).toMatchObject({ ok: true, openIntents: [] });
    for (const intent of open) expect(journal.entries().find((e) => e.intentSeq === intent.seq)).toMatchObject({ outcome: "interrupted" });
    const [row] = await x.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM users WHERE national_id IS NOT NULL");
    expect(JSON.parse(JSON.stringify(journal.entries().at(-1)!.details)).rewrapped + JSON.parse(JSON.stringify(journal.entries().at(-1)!.details)).alreadyNew).toBe(Number(row!.n));
    tally.recovered();
  }, 180_000);

});

describe("a throttling KMS and SIGTERM", () => {
  let x: Setup;
  beforeAll(async () => {
    x = await setup("term");
  }, 300_000);

  it("SIGTERM while KMS throttles every ReEncrypt: exit 130 within 2 s, the key disabled again, outcome interrupted", async () => {
    proxy.rule = (op) => (op === "ReEncrypt" ? "throttle" : "forward");
    const run = await spawnRun(x, "sigterm");
    await sourceEnabled(x, 0);
    await new Promise((r) => setTimeout(r, 500));
    tally.inject();
    const sentAt = Date.now();
    run.child.kill("SIGTERM");
    const { code, at } = await run.exited;
    proxy.rule = () => "forward";
    expect(code, run.stderr()).toBe(130);
    const journal = new Journal(x.w.journalDir);
    // The workers stop within 2 s: the disable step (its intent) starts right after they have.
    const disableIntent = journal.entries().find((e) => e.operation === "reencrypt-disable-source" && e.type === "intent")!;
    expect(Date.parse(disableIntent.time) - sentAt).toBeLessThan(2_000);
    expect(at - sentAt).toBeLessThan(30_000); // then DisableKey, its check, the verification and the outcome
    expect(await keyState(x.oldKey.keyId)).toBe("Disabled");
    const outcome = journal.entries().filter((e) => e.operation === "reencrypt" && e.type === "outcome").at(-1)!;
    expect(outcome).toMatchObject({ outcome: "interrupted" });
    expect(journal.verify()).toMatchObject({ ok: true, openIntents: [] });
    tally.recovered();
  }, 120_000);
});

describe("reenableMaxDuration", () => {
  let x: Setup;
  beforeAll(async () => {
    x = await setup("limit", { reenableMaxDuration: 5 });
  }, 300_000);

  it("a throttled run stops when the key has been enabled that long: disabled again, exit 1, resumable", async () => {
    proxy.rule = (op) => (op === "ReEncrypt" ? "throttle" : "forward");
    tally.inject();
    const started = Date.now();
    const r = await approvedRun(x, "limited");
    proxy.rule = () => "forward";
    expect(r.code, r.stderr).toBe(1);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(r.stdout, r.stderr).toMatch(/may stay enabled at most .* \(reenableMaxDuration\); it is disabled again/);
    expect(await keyState(x.oldKey.keyId)).toBe("Disabled");
    const journal = new Journal(x.w.journalDir);
    expect(journal.entries().filter((e) => e.operation === "reencrypt" && e.type === "outcome").at(-1)).toMatchObject({ outcome: "interrupted" });
    const enabled = journal.entries().find((e) => e.operation === "reencrypt-enable-source" && e.type === "outcome")!;
    const disabled = journal.entries().find((e) => e.operation === "reencrypt-disable-source" && e.type === "outcome")!;
    expect(Date.parse(disabled.time) - Date.parse(enabled.time)).toBeLessThan(5_000 + 10_000);
    // Resumable: without the throttling, runs of the same command go on where the last stopped
    // (each bounded by the 5 s limit) until everything is under the new key.
    let rerun: CliResult | undefined;
    for (let i = 0; i < 8 && rerun?.code !== 0; i++) {
      rerun = await approvedRun(x, `limited-rerun-${i}`);
      expect([0, 1], rerun.stdout + rerun.stderr).toContain(rerun.code);
      expect(await keyState(x.oldKey.keyId)).toBe("Disabled");
    }
    expect(rerun!.code, rerun!.stdout + rerun!.stderr).toBe(0);
    tally.recovered();
  }, 180_000);
});

describe("rows whose DEK KMS refuses", () => {
  let x: Setup;
  beforeAll(async () => {
    x = await setup("deny");
  }, 300_000);

  it("AccessDeniedException on some rows: listed and skipped, the others rewrapped and verified, exit 1; a rerun finishes", async () => {
    let n = 0;
    proxy.rule = (op) => (op === "ReEncrypt" ? (n++ % 4 === 0 ? "deny" : "forward") : "forward");
    tally.inject();
    const r = await approvedRun(x, "denied", ["--json"]);
    proxy.rule = () => "forward";
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as { result: { rewrapped: number; failed: number; tables: { failed: { error: string }[] }[] }; verification: { result: string } };
    expect(doc.result.failed).toBe(30);
    expect(doc.result.rewrapped).toBe(90);
    expect(doc.result.tables[0]!.failed[0]!.error).toMatch(/KMS refused the wrapped DEK: AccessDeniedException/);
    expect(doc.verification.result).toBe("passed");
    expect(await keyState(x.oldKey.keyId)).toBe("Disabled");
    const rerun = await approvedRun(x, "denied-rerun", ["--json"]);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect((JSON.parse(rerun.stdout) as { result: { rewrapped: number; alreadyNew: number } }).result).toMatchObject({ rewrapped: 30, alreadyNew: 90 });
    tally.recovered();
  }, 180_000);
});
