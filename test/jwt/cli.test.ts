// `dropkeys rotate-jwt` end to end: the built CLI, real SSH approvals, moto's Secrets Manager
// read back after each command, the journal, sessions revoked in SQLite and PostgreSQL. The
// test policy gives JWTs a lifetime of seconds so the overlap really ends (no fake clock).
// Every output, journal line and report is scanned for the secret values read from moto.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
} from "@aws-sdk/client-secrets-manager";
import { beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/lib/db/index.js";
import { Journal } from "../../src/lib/journal/journal.js";
import { rotate, versionTokenFor } from "../../src/lib/jwt/rotation.js";
import { TAG_OVERLAP_ENDS } from "../../src/lib/jwt/secret-state.js";
import { approverEntries, makeSshApprover, runApproved, sealRegistry, signRequest, type TestApprover } from "../support/approvers.js";
import { cliAwsEnv, secretsClient } from "../support/aws.js";
import { runCli, type CliResult } from "../support/cli.js";
import { suffix, writePolicy } from "../support/policy.js";
import { freshPgDatabase, freshSqliteUrl } from "../db/support.js";

const sm = secretsClient();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let alem: TestApprover;
let alice: TestApprover;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-jwt-cli-"));
  alem = makeSshApprover(dir, "alem", ["CISO", "security-lead"]);
  alice = makeSshApprover(dir, "alice", ["drop-key-admin", "dpo"]);
});

interface Setup {
  name: string;
  work: string;
  policyFile: string;
  journalDir: string;
  outputs: CliResult[];
  cli(args: string[]): Promise<CliResult>;
  approved(args: string[], runArgs?: string[]): Promise<CliResult>;
  /** Through `dropkeys apply` (the operation rebuilt from the request alone). */
  applied(args: string[]): Promise<CliResult>;
}

async function setup(options: { jwt?: Record<string, unknown>; database?: Record<string, unknown>; create?: boolean } = {}): Promise<Setup> {
  const work = mkdtempSync(path.join(dir, "case-"));
  const name = `JWT_SECRET_${suffix()}`;
  const policyFile = writePolicy(work, {
    inventory: [{ name, kind: "secret", bytes: 32, encoding: "hex", rotation: "quarterly", overdueAfterDays: 3 }],
    approvers: approverEntries([alem, alice]),
    approvals: {
      registry: { roles: ["CISO", "*"] },
      "rotate-jwt": { roles: ["security-lead"] },
      "rotate-jwt-emergency": { roles: [["security-lead", "CISO"]] },
    },
    jwt: { secret: name, tokenLifetime: "2s", cacheTtl: "1s", emergencyOverlap: "0s", ...options.jwt },
    ...(options.database ? { database: options.database } : {}),
  });
  const journalDir = path.join(work, "legal");
  await sealRegistry({ policyFile, journalDir, approvers: [alem, alice] });
  if (options.create !== false) await sm.send(new CreateSecretCommand({ Name: name, SecretString: randomBytes(32).toString("hex") }));
  const outputs: CliResult[] = [];
  const g = ["--policy", policyFile, "--journal", journalDir];
  return {
    name,
    work,
    policyFile,
    journalDir,
    outputs,
    async cli(args) {
      const r = await runCli([...args, ...g], { env: cliAwsEnv, cwd: work });
      outputs.push(r);
      return r;
    },
    async approved(args, runArgs = []) {
      // As a runbook does it: --request-out, the approver signs, the same command runs the request.
      const requestFile = path.join(mkdtempSync(path.join(work, "req-")), "request.json");
      const requested = await runCli([...args, ...g, "--request-out", requestFile], { env: cliAwsEnv, cwd: work });
      outputs.push(requested);
      if (requested.code !== 0) return requested;
      const r = await runCli(["rotate-jwt", "--request", requestFile, "--approval", signRequest(requestFile, alem), ...runArgs, ...g], { env: cliAwsEnv, cwd: work });
      outputs.push(r);
      return r;
    },
    async applied(args) {
      const r = await runApproved(args, { policyFile, journalDir, approvers: [alem], cwd: work });
      outputs.push(r);
      return r;
    },
  };
}

async function labels(name: string): Promise<Record<string, string[]>> {
  const out = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }));
  return Object.fromEntries((out.Versions ?? []).map((v) => [v.VersionId!, [...(v.VersionStages ?? [])].sort()]));
}

function holder(l: Record<string, string[]>, stage: string): string | undefined {
  return Object.entries(l).find(([, stages]) => stages.includes(stage))?.[0];
}

async function tags(name: string): Promise<Record<string, string>> {
  const out = await sm.send(new DescribeSecretCommand({ SecretId: name }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key!, t.Value!]));
}

/** Every value the secret ever had, read back from the emulator. */
async function allValues(name: string): Promise<string[]> {
  const versions = Object.keys(await labels(name));
  const values = await Promise.all(versions.map(async (v) => (await sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: v }))).SecretString!));
  expect(values.length).toBeGreaterThan(0);
  return values;
}

// Journal entries as parsed JSON; tests reach into their fields freely.
type Entry = { type: string; operation: string; requestId: string; details: { step: string }; approvals: { approver: string }[]; state: string; [key: string]: unknown };

function journalEntries(s: Setup): Entry[] {
  return readFileSync(path.join(s.journalDir, "internkontroll.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Entry);
}

/** No value of the secret in any output, the journal (both files) or the extra files. */
async function expectNoLeak(s: Setup, files: string[] = []): Promise<void> {
  const values = await allValues(s.name);
  const texts = [
    ...s.outputs.flatMap((o) => [o.stdout, o.stderr]),
    ...["internkontroll.jsonl", "internkontroll.md"].map((f) => readFileSync(path.join(s.journalDir, f), "utf8")),
    ...files.filter((f) => existsSync(f)).map((f) => readFileSync(f, "utf8")),
  ];
  for (const value of values) {
    for (const text of texts) expect(text.includes(value), `a secret value leaked into: ${text.slice(0, 200)}`).toBe(false);
  }
}

describe("scheduled rotation and --finish", () => {
  it("rotates with approval, refuses a second rotation inside the overlap, and --finish retires the old version after it", async () => {
    // Lifetime + cache TTL = 8 s: long enough for the commands run inside the overlap.
    const s = await setup({ jwt: { tokenLifetime: "6s", cacheTtl: "2s" } });
    const before = await labels(s.name);
    const oldVersion = holder(before, "AWSCURRENT")!;

    const r = await s.approved(["rotate-jwt", "--reason", "quarterly rotation"]);
    expect(r.code, r.stderr).toBe(0);
    const after = await labels(s.name);
    const newVersion = holder(after, "AWSCURRENT")!;
    expect(newVersion).not.toBe(oldVersion);
    expect(after).toEqual({ [oldVersion]: ["AWSPREVIOUS"], [newVersion]: ["AWSCURRENT"] });
    const overlapEnds = (await tags(s.name))[TAG_OVERLAP_ENDS]!;
    expect(Date.parse(overlapEnds)).toBeGreaterThan(Date.now());
    // The output ends with the overlap end (Europe/Oslo) and the command that finishes.
    const last = r.stdout.trim().split("\n").pop()!;
    expect(last).toMatch(/the overlap ends \d{4}-\d\d-\d\d \d\d:\d\d (CET|CEST|GMT\+\d)/);
    expect(last).toContain("dropkeys rotate-jwt --finish");

    // Journal: intent with the approval, one event per step, outcome verified.
    const entries = journalEntries(s).filter((e) => e.operation === "rotate-jwt");
    expect(entries[0]).toMatchObject({ type: "intent", params: { name: s.name, emergency: false, overlapMs: 8000 } });
    expect(entries[0]!.approvals.map((a: { approver: string }) => a.approver)).toEqual(["alem"]);
    expect(entries.filter((e) => e.type === "event").map((e) => e.details.step)).toEqual(["pending", "tested", "promoted", "pending-removed", "overlap-recorded"]);
    const outcome = entries.find((e) => e.type === "outcome")!;
    expect(outcome).toMatchObject({ outcome: "succeeded", verification: { result: "passed" }, details: { oldVersion, newVersion, overlapEnds } });
    // The new version's id is the token derived from the approved request's id.
    expect(newVersion).toBe(versionTokenFor(entries[0]!.requestId));

    // status shows the rotation in progress.
    const status = await s.cli(["status", "--json"]);
    const entry = (JSON.parse(status.stdout) as { entries: { name: string; notes: string[]; rotationInProgress?: { overlapEnds: string } }[] }).entries.find((e) => e.name === s.name)!;
    expect(entry.rotationInProgress).toEqual({ overlapEnds });
    expect(entry.notes.join(" ")).toMatch(/rotation in progress, overlap ends \d{4}-\d\d-\d\d \d\d:\d\d /);

    // Inside the overlap: another rotation is refused (exit 1, with the end time), --finish waits.
    const second = await s.approved(["rotate-jwt", "--reason", "again"]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("still in its overlap until");
    const early = await s.cli(["rotate-jwt", "--finish"]);
    expect(early.code).toBe(0);
    expect(early.stdout).toMatch(/Not yet: the overlap .* ends .* \(\d+s left\)/);
    expect(await labels(s.name)).toEqual(after);

    await sleep(Math.max(0, Date.parse(overlapEnds) - Date.now()) + 300);
    const done = await s.cli(["rotate-jwt", "--finish", "--json"]);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ status: "done", action: "retire", retired: oldVersion, verification: { result: "passed" } });
    expect(await labels(s.name)).toEqual({ [oldVersion]: [], [newVersion]: ["AWSCURRENT"] });
    expect(await tags(s.name)).not.toHaveProperty(TAG_OVERLAP_ENDS);

    const again = await s.cli(["rotate-jwt", "--finish"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("Nothing to do");
    const finish = journalEntries(s).filter((e) => e.operation === "rotate-jwt-finish");
    expect(finish.map((e) => e.type)).toEqual(["intent", "event", "outcome"]);
    expect(finish[2]).toMatchObject({ outcome: "succeeded", verification: { result: "passed" } });
    expect((await s.cli(["log", "verify"])).code).toBe(0);
    await expectNoLeak(s);
  });

  it("--overlap below the JWT lifetime is a usage error (exit 2); a missing secret is exit 2 with a hint to generate it", async () => {
    const s = await setup({ jwt: { tokenLifetime: "1h", cacheTtl: "5m" } });
    const short = await s.cli(["rotate-jwt", "--overlap", "30m", "--dry-run"]);
    expect(short.code).toBe(2);
    expect(short.stderr).toContain("shorter than the JWT lifetime (1h)");
    const ok = await s.cli(["rotate-jwt", "--overlap", "2h", "--dry-run", "--json"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).request.params).toMatchObject({ overlapMs: 7_200_000, emergency: false });

    const missing = await setup({ create: false });
    const r = await missing.cli(["rotate-jwt", "--dry-run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`dropkeys generate ${missing.name}`);
    expect((await missing.cli(["rotate-jwt", "--finish"])).code).toBe(2);
  });

  it("runs the deploy command with its output shown; when it fails: exit 1 with the exact state and what to run next", async () => {
    const ok = await setup({ jwt: { deployCommand: 'echo "rolling deploy of $DROPKEYS_JWT_SECRET_NAME to $DROPKEYS_JWT_VERSION"' } });
    // Through `dropkeys apply`: the operation is rebuilt from the signed request alone.
    const r = await ok.applied(["rotate-jwt", "--reason", "quarterly"]);
    expect(r.code, r.stderr).toBe(0);
    expect(journalEntries(ok).find((e) => e.operation === "rotate-jwt" && e.type === "outcome")).toMatchObject({ outcome: "succeeded", details: { deploy: { exitCode: 0 } } });
    const version = holder(await labels(ok.name), "AWSCURRENT")!;
    expect(r.stdout).toContain(`rolling deploy of ${ok.name} to ${version}`);
    await expectNoLeak(ok);

    // Under --json, stdout is one JSON document: the deploy command's output goes to stderr.
    const json = await setup({ jwt: { deployCommand: "echo deploy output" } });
    const j = await json.approved(["rotate-jwt", "--reason", "quarterly"], ["--json"]);
    expect(j.code, j.stderr).toBe(0);
    const doc = JSON.parse(j.stdout) as { status: string; newVersion: string; overlapEnds: string; deploy: { exitCode: number }; next: string[] };
    expect(doc).toMatchObject({ status: "done", newVersion: holder(await labels(json.name), "AWSCURRENT"), deploy: { exitCode: 0 } });
    expect(doc.next.at(-1)).toContain("dropkeys rotate-jwt --finish");
    expect(j.stderr).toContain("deploy output");
    await expectNoLeak(json);

    const bad = await setup({ jwt: { deployCommand: "echo deploy starting; exit 3" } });
    const before = holder(await labels(bad.name), "AWSCURRENT")!;
    const f = await bad.approved(["rotate-jwt", "--reason", "quarterly"]);
    expect(f.code).toBe(1);
    expect(f.stdout).toContain("deploy starting");
    const now = await labels(bad.name);
    const current = holder(now, "AWSCURRENT")!;
    expect(now).toEqual({ [before]: ["AWSPREVIOUS"], [current]: ["AWSCURRENT"] });
    expect(f.stderr).toContain("the deploy command failed (exit 3)");
    expect(f.stderr).toContain(`is rotated: new version ${current} is AWSCURRENT, old version ${before} verifies until`);
    expect(f.stderr).toContain("fix and run the deploy command yourself: echo deploy starting; exit 3");
    expect(f.stderr).toContain("dropkeys rotate-jwt --finish");
    const outcome = journalEntries(bad).find((e) => e.operation === "rotate-jwt" && e.type === "outcome")!;
    expect(outcome).toMatchObject({ outcome: "failed", error: { code: "jwt.deploy-failed" } });
    expect(outcome.state).toContain(`new version ${current} is AWSCURRENT`);
    await expectNoLeak(bad);
  });
});

describe("crash recovery from the CLI", () => {
  it("an unpromoted version left by a crash: --finish rolls it back; a half-promoted one: rotate-jwt refuses, --finish completes it", async () => {
    const s = await setup();
    const original = holder(await labels(s.name), "AWSCURRENT")!;
    const crash = (after: string) => async (step: { step: string }) => {
      if (step.step === after) throw new Error("simulated crash");
    };
    // The state a crash after step 1 leaves behind.
    const pending = versionTokenFor(`crash-${suffix()}`);
    await expect(rotate({ sm, secretId: s.name, token: pending, emergency: false, overlapMs: 3000, onStep: crash("pending") })).rejects.toThrow("simulated crash");
    let r = await s.cli(["rotate-jwt", "--finish"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Rolled back an interrupted rotation of ${s.name}: version ${pending} was never promoted`);
    expect(await labels(s.name)).toEqual({ [original]: ["AWSCURRENT"], [pending]: [] });

    // The state a crash inside step 3 leaves behind.
    const half = versionTokenFor(`crash-${suffix()}`);
    await expect(rotate({ sm, secretId: s.name, token: half, emergency: false, overlapMs: 3000, onStep: crash("promoted") })).rejects.toThrow("simulated crash");
    expect((await labels(s.name))[half]).toEqual(["AWSCURRENT", "AWSPENDING"]);
    r = await s.cli(["rotate-jwt", "--dry-run"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`promoted version ${half} but did not finish`);
    expect(r.stderr).toContain("dropkeys rotate-jwt --finish");
    r = await s.cli(["rotate-jwt", "--finish"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Completed an interrupted rotation of ${s.name}: version ${half} is AWSCURRENT`);
    expect(await labels(s.name)).toEqual({ [original]: ["AWSPREVIOUS"], [pending]: [], [half]: ["AWSCURRENT"] });
    expect((await tags(s.name))[TAG_OVERLAP_ENDS]).toBeDefined();
    await expectNoLeak(s);
  });
});

describe("the same approved request after a crash", () => {
  it("runs again and reuses the version the crashed run made; once finished it does not run a third time", async () => {
    const s = await setup();
    const g = ["--policy", s.policyFile, "--journal", s.journalDir];
    const requestFile = path.join(s.work, "request.json");
    const requested = await s.cli(["rotate-jwt", "--reason", "quarterly", "--request-out", requestFile]);
    expect(requested.code, requested.stderr).toBe(0);
    const request = JSON.parse(readFileSync(requestFile, "utf8")) as { id: string; params: Record<string, unknown> };
    const signature = signRequest(requestFile, alem);
    // What a run killed after step 1 leaves: its intent journalled, no outcome, a pending version.
    new Journal(s.journalDir).append({ type: "intent", operation: "rotate-jwt", requestId: request.id, actor: { aws: "crashed", osUser: "u", host: "h" }, params: request.params });
    const token = versionTokenFor(request.id);
    await expect(
      rotate({ sm, secretId: s.name, token, emergency: false, overlapMs: 3000, onStep: async (step) => { if (step.step === "pending") throw new Error("killed"); } }),
    ).rejects.toThrow("killed");
    const rerun = await runCli(["rotate-jwt", "--request", requestFile, "--approval", signature, ...g], { env: cliAwsEnv, cwd: s.work });
    s.outputs.push(rerun);
    expect(rerun.code, rerun.stderr).toBe(0);
    const after = await labels(s.name);
    expect(holder(after, "AWSCURRENT")).toBe(token);
    expect(Object.values(after).filter((stages) => stages.includes("AWSPENDING"))).toHaveLength(0);
    expect(Object.keys(after)).toHaveLength(2);
    const again = await runCli(["rotate-jwt", "--request", requestFile, "--approval", signature, ...g], { env: cliAwsEnv, cwd: s.work });
    s.outputs.push(again);
    // Refused before any approval is looked at (the overlap runs); the replay rule would refuse it next.
    expect(again.code).toBe(1);
    expect(await labels(s.name)).toEqual(after);
    await expectNoLeak(s);
  });
});

// ---------------------------------------------------------------- emergency

const SESSIONS_DDL = {
  sqlite: "CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, token TEXT NOT NULL, created_at TEXT NOT NULL, last_seen_at TEXT, revoked INTEGER NOT NULL DEFAULT 0)",
  postgres: "CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, token TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, last_seen_at TIMESTAMPTZ, revoked INTEGER NOT NULL DEFAULT 0)",
};

const H = 3_600_000;

/** Sessions: two active in the window, one that ended before it, one active in it but revoked since. */
async function seedSessions(url: string): Promise<{ tokens: string[] }> {
  const db = await openDatabase(url, { create: true });
  const t = (hoursAgo: number) => new Date(Date.now() - hoursAgo * H).toISOString();
  const rows = [
    ["s-active-1", "u-1", t(30), t(1), 0],
    ["s-active-2", "u-2", t(5), t(0.5), 0],
    ["s-old", "u-3", t(100), t(50), 0],
    ["s-revoked", "u-4", t(3), t(2), 1],
  ] as const;
  const tokens: string[] = [];
  try {
    await db.execute(SESSIONS_DDL[db.kind]);
    for (const [id, user, created, seen, revoked] of rows) {
      const token = `tok_${randomBytes(16).toString("hex")}`;
      tokens.push(token);
      await db.execute("INSERT INTO sessions (id, user_id, token, created_at, last_seen_at, revoked) VALUES (?, ?, ?, ?, ?, ?)", [id, user, token, created, seen, revoked]);
    }
  } finally {
    await db.close();
  }
  return { tokens };
}

async function revokedFlags(url: string): Promise<Record<string, number>> {
  const db = await openDatabase(url);
  try {
    const rows = await db.query<{ id: string; revoked: number }>("SELECT id, revoked FROM sessions ORDER BY id");
    return Object.fromEntries(rows.map((r) => [r.id, Number(r.revoked)]));
  } finally {
    await db.close();
  }
}

for (const engine of ["sqlite", "postgres"] as const) {
  describe(`emergency rotation (${engine})`, () => {
    it("promotes at once, the old value stops verifying, every session is revoked in one transaction, the window's sessions are reported", async () => {
      const url = engine === "sqlite" ? freshSqliteUrl() : await freshPgDatabase("dk_jwt");
      const { tokens } = await seedSessions(url);
      const s = await setup({ database: { url } });
      const compromised = holder(await labels(s.name), "AWSCURRENT")!;
      const report = path.join(s.work, engine === "sqlite" ? "sessions.csv" : "sessions.json");

      const noIncident = await s.cli(["rotate-jwt", "--emergency", "--dry-run"]);
      expect(noIncident.code).toBe(2);
      expect(noIncident.stderr).toContain("needs --incident");

      const since = new Date(Date.now() - 24 * H).toISOString();
      const r = await s.approved(["rotate-jwt", "--emergency", "--incident", "INC-20261123-1405", "--compromised-since", since, "--report", report, "--reason", "JWT secret in a CI log"]);
      expect(r.code, r.stderr).toBe(0);

      const after = await labels(s.name);
      const current = holder(after, "AWSCURRENT")!;
      expect(current).not.toBe(compromised);
      expect(after).toEqual({ [compromised]: [], [current]: ["AWSCURRENT"] });
      expect(await revokedFlags(url)).toEqual({ "s-active-1": 1, "s-active-2": 1, "s-old": 1, "s-revoked": 1 });
      expect(r.stdout).toContain("Sessions revoked: 3");
      expect(r.stdout).toContain(`Sessions active during the compromise window: 3, written to ${report}`);
      expect(r.stdout).toContain(`Old version ${compromised} no longer verifies`);
      // The remaining POLICY.md §5 steps and the deadlines.
      expect(r.stdout).toMatch(/incident INC-20261123-1405, step 9: Audit CloudTrail/);
      expect(r.stdout).toMatch(/incident INC-20261123-1405, step 12: Post-mortem within 48 hours/);
      expect(r.stdout).toMatch(/Breach notification to Datatilsynet \(GDPR Art. 33, 72 h\): due/);
      expect(r.stdout).toMatch(/Post-mortem .*: due/);

      const text = readFileSync(report, "utf8");
      if (engine === "sqlite") {
        const lines = text.trim().split("\n");
        expect(lines[0]).toBe("session_id,user_id,created_at,last_seen_at");
        expect(lines.slice(1).map((l) => l.split(",").slice(0, 2).join(","))).toEqual(["s-active-1,u-1", "s-active-2,u-2", "s-revoked,u-4"]);
      } else {
        const doc = JSON.parse(text) as { incident: string; revokedSessions: number; sessions: { session_id: string; user_id: string }[] };
        expect(doc).toMatchObject({ incident: "INC-20261123-1405", revokedSessions: 3, compromisedSince: since });
        expect(doc.sessions.map((x) => [x.session_id, x.user_id])).toEqual([
          ["s-active-1", "u-1"],
          ["s-active-2", "u-2"],
          ["s-revoked", "u-4"],
        ]);
      }
      // Session tokens stay in the database.
      for (const token of tokens) expect(text).not.toContain(token);

      const entries = journalEntries(s);
      const intent = entries.find((e) => e.operation === "rotate-jwt" && e.type === "intent")!;
      expect(intent).toMatchObject({ incident: "INC-20261123-1405", params: { emergency: true, overlapMs: 0, compromisedSince: since, report } });
      expect(entries.filter((e) => e.operation === "rotate-jwt" && e.type === "event").map((e) => e.details.step)).toEqual([
        "pending",
        "tested",
        "promoted",
        "pending-removed",
        "previous-removed",
        "sessions-revoked",
      ]);
      expect(entries.find((e) => e.operation === "rotate-jwt" && e.type === "outcome")).toMatchObject({
        outcome: "succeeded",
        details: { previousRetired: true, sessions: { revoked: 3, reported: 3 } },
      });
      for (const o of s.outputs) for (const token of tokens) expect(o.stdout + o.stderr).not.toContain(token);
      await expectNoLeak(s, [report]);

      const incident = await s.cli(["incident", "show", "INC-20261123-1405", "--json"]);
      if (incident.code === 0) {
        const steps = (JSON.parse(incident.stdout) as { checklist: { step: number; done: boolean }[] }).checklist;
        expect(steps.filter((x) => x.done).map((x) => x.step)).toEqual(expect.arrayContaining([1, 3, 4]));
      }
    });
  });
}

describe("emergency rotation: flags and failures", () => {
  it("checks its flags before anyone is asked to approve (exit 2)", async () => {
    const url = freshSqliteUrl();
    await seedSessions(url);
    const s = await setup({ database: { url } });
    const e = ["rotate-jwt", "--emergency", "--incident", "INC-1", "--dry-run"];
    expect((await s.cli([...e, "--overlap", "10m"])).stderr).toContain("too long for an emergency rotation");
    expect((await s.cli([...e, "--overlap", "10m"])).code).toBe(2);
    const five = await s.cli([...e, "--overlap", "5m", "--json"]);
    expect(five.code, five.stderr).toBe(0);
    expect(JSON.parse(five.stdout).request.params).toMatchObject({ emergency: true, overlapMs: 300_000 });
    expect((await s.cli([...e, "--report", "sessions.txt"])).code).toBe(2);
    expect((await s.cli(["rotate-jwt", "--report", "sessions.csv", "--dry-run"])).code).toBe(2);
    expect((await s.cli(["rotate-jwt", "--finish", "--emergency"])).code).toBe(2);
    expect((await s.cli([...e, "--compromised-since", "yesterday-ish"])).code).toBe(2);
  });

  it("when the sessions cannot be revoked: exit 1, the secret is rotated, the output says the sessions were NOT revoked and how to do it", async () => {
    const url = freshSqliteUrl();
    await seedSessions(url);
    const s = await setup({ database: { url, sessionRevocation: "UPDATE no_such_table SET revoked = 1" } });
    const compromised = holder(await labels(s.name), "AWSCURRENT")!;
    const r = await s.approved(["rotate-jwt", "--emergency", "--incident", "INC-2", "--reason", "leak"]);
    expect(r.code).toBe(1);
    const now = await labels(s.name);
    const current = holder(now, "AWSCURRENT")!;
    expect(now).toEqual({ [compromised]: [], [current]: ["AWSCURRENT"] });
    expect(r.stderr).toContain("nothing was revoked");
    expect(r.stderr).toContain(`is rotated: new version ${current} is AWSCURRENT, old version ${compromised} no longer verifies`);
    expect(r.stderr).toContain("sessions NOT revoked");
    expect(r.stderr).toContain("revoke every session by hand (nothing was revoked), in the Drop database: UPDATE no_such_table SET revoked = 1");
    expect(await revokedFlags(url)).toEqual({ "s-active-1": 0, "s-active-2": 0, "s-old": 0, "s-revoked": 1 });
    await expectNoLeak(s);
  });
});
