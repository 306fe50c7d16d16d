// `dropkeys doctor` through the CLI against the emulators: a setup that is in order, then each
// check failing once (a wrong endpoint, an unwritable journal, an unsealed registry, a trail
// without KMS events, a database that refuses, a key file that is not the approver's). Trails
// live in regions no other test file uses, so parallel test files never change the answer.
import { CloudTrailClient, CreateTrailCommand, PutEventSelectorsCommand, StartLoggingCommand, type EventSelector } from "@aws-sdk/client-cloudtrail";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { createServer } from "node:http";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { hostname, tmpdir, userInfo } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approverEntries, makeSshApprover, sealRegistry, type TestApprover } from "../support/approvers.js";
import { cliAwsEnv, motoUrl, s3Client } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { freePort } from "../support/net.js";
import { emulatorEndpoints, suffix, writePolicy } from "../support/policy.js";

const s = suffix();
const GOOD_REGION = "eu-south-1";
const NO_KMS_REGION = "eu-central-2";
const osUser = userInfo().username;
let dir: string;
let alem: TestApprover;

interface Check {
  id: string;
  state: "ok" | "warning" | "problem";
  detail: string;
  fix?: string;
  facts?: Record<string, unknown>;
}

async function trail(region: string, selectors: EventSelector[]): Promise<void> {
  const ct = new CloudTrailClient({ region, endpoint: motoUrl(), credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
  const name = `doctor-${region}-${s}`;
  await ct.send(new CreateTrailCommand({ Name: name, S3BucketName: `dropkeys-doctor-${s}`, IsMultiRegionTrail: false }));
  await ct.send(new PutEventSelectorsCommand({ TrailName: name, EventSelectors: selectors }));
  await ct.send(new StartLoggingCommand({ Name: name }));
}

/** A policy whose KMS keys live in `region`, with the emulators as endpoints (moto serves KMS there). */
function policyFor(target: string, region: string, extra: Record<string, unknown> = {}): string {
  const endpoints = emulatorEndpoints() as { kms: Record<string, string> };
  mkdirSync(target, { recursive: true });
  return writePolicy(target, {
    endpoints: { ...endpoints, kms: { ...endpoints.kms, [region]: motoUrl() } },
    inventory: [{ name: `doctor-key-${s}`, kind: "kms-key", rotation: "annual", region }],
    approvers: approverEntries([alem]),
    approvals: { registry: { roles: ["CISO"] } },
    ...extra,
  });
}

async function doctor(policy: string, journal: string, options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const r = await runCli(["doctor", "--policy", policy, "--journal", journal, "--json"], { env: { ...cliAwsEnv, ...options.env }, ...(options.cwd ? { cwd: options.cwd } : {}) });
  let doc: { checks: Check[]; problems: number; warnings: number };
  try {
    doc = JSON.parse(r.stdout) as typeof doc;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  const byId = (id: string) => doc.checks.filter((c) => c.id === id);
  return { r, doc, check: (id: string) => byId(id)[0]!, byId };
}

let healthyPolicy: string;
let healthyJournal: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-doctor-"));
  alem = makeSshApprover(dir, "alem", ["CISO", "security-lead"]);
  await s3Client().send(new CreateBucketCommand({ Bucket: `dropkeys-doctor-${s}`, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
  await trail(GOOD_REGION, [{ ReadWriteType: "All", IncludeManagementEvents: true }]);
  await trail(NO_KMS_REGION, [{ ReadWriteType: "All", IncludeManagementEvents: true, ExcludeManagementEventSources: ["kms.amazonaws.com"] }]);
  // The healthy setup: a sealed registry, a key file named for this OS user, relative to the policy.
  const setup = path.join(dir, "healthy");
  mkdirSync(path.join(setup, "keys"), { recursive: true });
  copyFileSync(alem.keyFile, path.join(setup, "keys", "alem_ed25519"));
  copyFileSync(`${alem.keyFile}.pub`, path.join(setup, "keys", "alem_ed25519.pub"));
  healthyPolicy = policyFor(setup, GOOD_REGION, {
    keyFiles: { [osUser]: "keys/alem_ed25519" },
    database: { url: process.env.DROPKEYS_TEST_PG_URL },
  });
  healthyJournal = path.join(setup, "legal");
  await sealRegistry({ policyFile: healthyPolicy, journalDir: healthyJournal, approvers: [alem] });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("dropkeys doctor", () => {
  it("says every check is in order for a working setup (exit 0), from any working directory, without changing anything", async () => {
    const journalFile = path.join(healthyJournal, "internkontroll.jsonl");
    const before = readFileSync(journalFile, "utf8");
    const elsewhere = mkdtempSync(path.join(dir, "cwd-"));
    const { r, doc, check, byId } = await doctor(healthyPolicy, healthyJournal, { cwd: elsewhere, env: { SSH_AUTH_SOCK: "" } });
    expect(doc.checks.filter((c) => c.state !== "ok")).toEqual([]);
    expect(r.code).toBe(0);
    expect(check("policy.seal").detail).toMatch(/sealed \(journal entry #1/);
    expect(check("aws.credentials").facts).toMatchObject({ arn: expect.stringMatching(/^arn:aws:/), source: "environment variables" });
    expect(check("aws.credentials").detail).toContain("MFA unknown");
    expect(check("journal.chain").detail).toBe("intact: 2 entries");
    // keys/alem_ed25519 is found next to the policy, not in the working directory.
    expect(check("approvers.keys").detail).toContain(`${path.join(path.dirname(healthyPolicy), "keys", "alem_ed25519")} is alem's registered key`);
    expect(check(`cloudtrail.${GOOD_REGION}`).detail).toContain("KMS events are recorded");
    expect(check("clock").state).toBe("ok");
    // Every endpoint the policy uses is probed: moto, and the KMS emulator of the default region.
    expect(byId("endpoint").map((c) => c.facts?.url)).toEqual(expect.arrayContaining([motoUrl()]));
    // The database answers, and its password is never shown.
    const pg = new URL(process.env.DROPKEYS_TEST_PG_URL!);
    expect(check("database").detail).toContain("answers (PostgreSQL)");
    if (pg.password) expect(r.stdout + r.stderr).not.toContain(pg.password);
    // Read-only: the journal is byte for byte what it was, and no lock is left.
    expect(readFileSync(journalFile, "utf8")).toBe(before);
    expect(existsSync(path.join(healthyJournal, "internkontroll.lock"))).toBe(false);
    expect(existsSync(path.join(elsewhere, "legal"))).toBe(false);
  });

  it("prints one line per check with its state, and the fix, for people", async () => {
    const r = await runCli(["doctor", "--policy", healthyPolicy, "--journal", healthyJournal], { env: cliAwsEnv });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok +policy\.seal +the policy's authority is sealed/m);
    expect(r.stdout).toMatch(/^ok +journal\.chain +intact: 2 entries$/m);
    expect(r.stdout).toContain("Everything checked is in order.");
  });

  it("a journal lock held by a running process, or left by a dead one: a warning that says which", async () => {
    const lock = path.join(healthyJournal, "internkontroll.lock");
    const holder = (pid: number) => JSON.stringify({ pid, host: hostname(), since: new Date().toISOString(), command: "disable drop-kyc-key" });
    try {
      writeFileSync(lock, holder(process.pid));
      const live = await doctor(healthyPolicy, healthyJournal);
      expect(live.check("journal.lock")).toMatchObject({ state: "warning" });
      expect(live.check("journal.lock").detail).toContain(`held by pid ${process.pid}`);
      expect(live.r.code).toBe(0);
      // A pid that no longer runs: a child that has exited.
      const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
      const deadLock = holder(dead);
      writeFileSync(lock, deadLock);
      const left = await doctor(healthyPolicy, healthyJournal);
      expect(left.check("journal.lock").detail).toContain(`left by pid ${dead}`);
      expect(left.check("journal.lock").fix).toContain("next operation takes the lock over");
      // Doctor changes nothing: the lock is still there for the next operation to repair.
      expect(readFileSync(lock, "utf8")).toBe(deadLock);
    } finally {
      rmSync(lock, { force: true });
    }
  });

  it("a wrong endpoint: names it, says it does not answer, exit 4", async () => {
    const target = path.join(dir, "wrong-endpoint");
    const port = await freePort();
    const policy = policyFor(target, GOOD_REGION, { endpoints: { ...emulatorEndpoints(), sts: `http://127.0.0.1:${port}` } });
    const { r, byId, check } = await doctor(policy, path.join(target, "legal"));
    expect(r.code).toBe(4);
    const bad = byId("endpoint").find((c) => c.facts?.url === `http://127.0.0.1:${port}`)!;
    expect(bad).toMatchObject({ state: "problem", facts: { uses: ["sts eu-north-1"] } });
    expect(bad.detail).toMatch(/does not answer/);
    expect(bad.fix).toMatch(/endpoints/);
    expect(check("aws.credentials").state).toBe("problem");
    // The other endpoints still answer.
    expect(byId("endpoint").filter((c) => c.state === "ok").length).toBeGreaterThan(0);
  });

  it("a clock an hour off AWS's Date header: warning naming the skew", async () => {
    // An endpoint whose Date header is an hour behind this machine's clock stands in for STS.
    const server = createServer((_, res) => {
      res.writeHead(403, { Date: new Date(Date.now() - 3_600_000).toUTCString() });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const target = path.join(dir, "clock");
      const policy = policyFor(target, GOOD_REGION, { endpoints: { ...emulatorEndpoints(), sts: `http://127.0.0.1:${port}` } });
      const { check } = await doctor(policy, path.join(target, "legal"));
      expect(check("clock")).toMatchObject({ state: "warning", facts: { reference: `http://127.0.0.1:${port}` } });
      expect(check("clock").detail).toMatch(/the local clock is 36\d\d s ahead of/);
      expect(check("clock").fix).toMatch(/NTP/);
    } finally {
      server.close();
    }
  });

  it("an unwritable journal directory: problem, exit 4", async () => {
    const target = path.join(dir, "unwritable");
    const policy = policyFor(target, GOOD_REGION);
    // A regular file where the journal's parent directory should be: no user, root included, can create it.
    const blocker = path.join(target, "not-a-directory");
    writeFileSync(blocker, "");
    const { r, check } = await doctor(policy, path.join(blocker, "legal"));
    expect(r.code).toBe(4);
    expect(check("journal.directory")).toMatchObject({ state: "problem" });
    expect(check("journal.directory").detail).toContain("is not a directory");
  });

  it("an unsealed registry: problem naming the command that seals it, exit 4", async () => {
    const target = path.join(dir, "unsealed");
    const policy = policyFor(target, GOOD_REGION);
    const { r, check } = await doctor(policy, path.join(target, "legal"));
    expect(r.code).toBe(4);
    expect(check("policy.seal")).toMatchObject({ state: "problem", facts: { state: "unsealed" } });
    expect(check("policy.seal").fix).toContain("dropkeys policy seal");
  });

  it("the journal's S3 mirror: ok when locked and in step; a bucket without Object Lock, or a local entry edited after mirroring, is a problem", async () => {
    const target = path.join(dir, "mirror");
    const locked = `doctor-mirror-${s}`;
    const unlocked = `doctor-nolock-${s}`;
    await s3Client().send(new CreateBucketCommand({ Bucket: locked, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
    await s3Client().send(new CreateBucketCommand({ Bucket: unlocked, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
    const policy = policyFor(target, GOOD_REGION, { journal: { mirror: `s3://${locked}/legal` } });
    const journal = path.join(target, "legal");
    await sealRegistry({ policyFile: policy, journalDir: journal, approvers: [alem] });

    const good = await doctor(policy, journal);
    expect(good.check("journal.mirror")).toMatchObject({ state: "ok", facts: { bucket: locked } });
    expect(good.check("journal.mirror").detail).toContain("holds exactly the local journal's 2 entries");

    // The insider edits a mirrored local entry (and re-chains, so the local chain alone verifies).
    const file = path.join(journal, "internkontroll.jsonl");
    const original = readFileSync(file, "utf8");
    writeFileSync(file, original.replace('"test registry"', '"nothing to see"'));
    const edited = await doctor(policy, journal);
    expect(edited.r.code).toBe(4);
    expect(edited.check("journal.mirror")).toMatchObject({ state: "problem" });
    expect(edited.check("journal.mirror").detail).toMatch(/differ: entry #1/);
    writeFileSync(file, original);

    // A policy pointing at a bucket without Object Lock (not yet sealed: doctor reads the file's).
    const other = policyFor(path.join(dir, "mirror-nolock"), GOOD_REGION, { journal: { mirror: `s3://${unlocked}/legal` } });
    const nolock = await doctor(other, path.join(dir, "mirror-nolock", "legal"));
    expect(nolock.check("journal.mirror")).toMatchObject({ state: "problem", facts: { bucket: unlocked } });
    expect(nolock.check("journal.mirror").detail).toContain("has no Object Lock");
  });

  it("a trail that excludes KMS events in an inventory region: problem for that region, exit 4", async () => {
    const target = path.join(dir, "no-kms-trail");
    const policy = policyFor(target, NO_KMS_REGION);
    const { r, check } = await doctor(policy, path.join(target, "legal"));
    expect(r.code).toBe(4);
    const c = check(`cloudtrail.${NO_KMS_REGION}`);
    expect(c).toMatchObject({ state: "problem", facts: { kmsReads: false, kmsWrites: false } });
    expect(c.detail).toContain("ExcludeManagementEventSources contains kms.amazonaws.com");
  });

  it("a database that refuses the login: problem, exit 4, and the password is not shown", async () => {
    const target = path.join(dir, "database");
    const url = new URL(process.env.DROPKEYS_TEST_PG_URL!);
    url.password = `wrong-Pw-${s}`;
    const policy = policyFor(target, GOOD_REGION, { database: { url: url.toString() } });
    const { r, check } = await doctor(policy, path.join(target, "legal"));
    expect(r.code).toBe(4);
    expect(check("database")).toMatchObject({ state: "problem" });
    expect(check("database").detail).toMatch(/cannot be reached: .*password authentication failed/);
    expect(r.stdout + r.stderr).not.toContain(`wrong-Pw-${s}`);
  });

  it("a key file named for this user that is not an approver's registered key: problem", async () => {
    const target = path.join(dir, "stranger-key");
    const policy = policyFor(target, GOOD_REGION, { keyFiles: { [osUser]: "stranger_ed25519" } });
    makeSshApprover(target, "stranger", ["CISO"]);
    const { check } = await doctor(policy, path.join(target, "legal"));
    expect(check("approvers.keys")).toMatchObject({ state: "problem" });
    expect(check("approvers.keys").detail).toContain("is not the registered key of any approver");
  });

  it("an invalid policy: one problem naming the field, the journal still checked, exit 4", async () => {
    const target = path.join(dir, "invalid");
    mkdirSync(target, { recursive: true });
    const policy = path.join(target, "policy.yaml");
    writeFileSync(policy, "version: 1\ninventory:\n  - { name: k, kind: kms-key, rotation: weekly }\n");
    const { r, check } = await doctor(policy, path.join(target, "legal"));
    expect(r.code).toBe(4);
    expect(check("policy")).toMatchObject({ state: "problem" });
    expect(check("policy").detail).toContain("inventory[0].rotation");
    expect(check("journal.directory").state).toBe("ok");
  });
});
