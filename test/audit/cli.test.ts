// `dropkeys audit-decrypts` end to end: the built CLI reads a local CloudTrail archive whose
// events name keys made in the KMS emulator (resolved from inventory names by alias), applies the
// policy's rules, and answers with the exit codes and documents cron and people rely on.
import { CreateAliasCommand, CreateKeyCommand } from "@aws-sdk/client-kms";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Journal } from "../../src/lib/journal/journal.js";
import { cliAwsEnv, kmsClient, s3Client } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { suffix, writePolicy } from "../support/policy.js";
import { kmsRecord, roleArn } from "./fixtures/cloudtrail.js";

const s = suffix();
const NATIONAL = `audit-national-${s}`;
const DB = `audit-db-${s}`;
const MISSING = `audit-missing-${s}`;
let dir: string;
let policy: string;
let logs: string;
let damaged: string;
let arns: Record<string, string>;
const ids = { allowed: "", foreign: "", saturday: "", deletion: "", grant: "" };

async function createKey(name: string): Promise<string> {
  const kms = kmsClient("eu-north-1");
  const key = await kms.send(new CreateKeyCommand({ Description: name }));
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.KeyMetadata!.KeyId! }));
  return key.KeyMetadata!.Arn!;
}

function writeTrailFile(root: string, day: string, name: string, records: unknown[], gzip = true): string {
  const folder = path.join(root, "AWSLogs", "111122223333", "CloudTrail", "eu-north-1", ...day.split("-"));
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, name);
  const body = JSON.stringify({ Records: records });
  writeFileSync(file, gzip ? gzipSync(body) : body);
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-audit-cli-"));
  arns = { [NATIONAL]: await createKey(NATIONAL), [DB]: await createKey(DB) };
  policy = writePolicy(dir, {
    roles: {
      "drop-app-runner": { principals: [roleArn("drop-app-runner")] },
      "drop-compliance-decrypt": { principals: [roleArn("drop-compliance-decrypt")] },
      "drop-key-admin": { principals: [roleArn("drop-key-admin")] },
    },
    inventory: [
      { name: NATIONAL, kind: "kms-key", rotation: "annual", decryptRoles: ["drop-compliance-decrypt", "drop-app-runner"], offHoursAlert: true },
      { name: DB, kind: "kms-key", rotation: "annual", decryptRoles: ["drop-app-runner"] },
      { name: MISSING, kind: "kms-key", rotation: "annual", decryptRoles: ["drop-app-runner"] },
    ],
  });
  logs = path.join(dir, "logs");
  // Wednesday 18 November 2026, 13:00 Oslo (12:00 UTC): business hours.
  const allowed = kmsRecord({ time: "2026-11-18T12:00:00Z", keyArn: arns[NATIONAL]! });
  const foreign = kmsRecord({ time: "2026-11-18T12:05:00Z", keyArn: arns[NATIONAL]!, role: "drop-batch-export" });
  const saturday = kmsRecord({ time: "2026-11-21T09:00:00Z", keyArn: arns[NATIONAL]! });
  const deletion = kmsRecord({ time: "2026-11-19T12:00:00Z", keyArn: arns[DB]!, name: "ScheduleKeyDeletion", role: "drop-key-admin" });
  const grant = kmsRecord({ time: "2026-11-19T12:01:00Z", keyArn: arns[DB]!, name: "CreateGrant", role: "drop-key-admin" });
  Object.assign(ids, { allowed: allowed.eventID, foreign: foreign.eventID, saturday: saturday.eventID, deletion: deletion.eventID, grant: grant.eventID });
  writeTrailFile(logs, "2026-11-18", "111122223333_CloudTrail_eu-north-1_20261118T1210Z_aaaa.json.gz", [allowed, foreign]);
  // Delivered twice: the same event in a second file counts once.
  writeTrailFile(logs, "2026-11-18", "111122223333_CloudTrail_eu-north-1_20261118T1215Z_bbbb.json.gz", [allowed]);
  writeTrailFile(logs, "2026-11-19", "111122223333_CloudTrail_eu-north-1_20261119T1210Z_cccc.json", [deletion, grant], false);
  writeTrailFile(logs, "2026-11-21", "111122223333_CloudTrail_eu-north-1_20261121T0910Z_dddd.json.gz", [saturday]);
  damaged = path.join(dir, "damaged");
  writeTrailFile(damaged, "2026-11-18", "111122223333_CloudTrail_eu-north-1_20261118T1210Z_eeee.json.gz", [allowed]);
  const cut = writeTrailFile(damaged, "2026-11-18", "111122223333_CloudTrail_eu-north-1_20261118T1220Z_ffff.json.gz", [foreign]);
  writeFileSync(cut, readFileSync(cut).subarray(0, 40));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const window = ["--since", "2026-11-15T00:00:00Z", "--until", "2026-11-22T00:00:00Z"];
const audit = (args: string[], journal = "legal") =>
  runCli(["audit-decrypts", "--policy", policy, "--journal", path.join(dir, journal), ...window, ...args], { cwd: dir, env: cliAwsEnv });

interface Doc {
  findings: { rule: number; severity: string; key: string; principal: string; evidence: string[] }[];
  counts: { events: number; duplicates: number; uses: number };
  scope: { keys: { name: string; arn: string }[]; unresolved: { name: string }[] };
  summary: { key: string; uses: number; principals: { principal: string; uses: number }[] }[];
  coverage: { checked: boolean; regions: { region: string }[] };
  read: { files: number; filesSkipped: number };
  skippedTotal: number;
  performance: { peakRssMb: number };
}

describe("dropkeys audit-decrypts", () => {
  it("--json: resolves inventory names to ARNs, applies the rules, exit 4 on a high finding, one journal entry without payloads", async () => {
    const r = await audit(["--source", logs, "--json"]);
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.scope.keys.map((k) => [k.name, k.arn]).sort()).toEqual([[DB, arns[DB]], [NATIONAL, arns[NATIONAL]]].sort());
    expect(doc.scope.unresolved.map((u) => u.name)).toEqual([MISSING]);
    expect(r.stderr).toContain(`alias/${MISSING} does not exist`);
    expect(doc.findings.map((f) => [f.rule, f.severity, f.key, f.evidence])).toEqual([
      [4, "critical", DB, [ids.deletion]],
      [1, "high", NATIONAL, [ids.foreign]],
      [3, "medium", NATIONAL, [ids.saturday]],
      [5, "notable", DB, [ids.grant]],
    ]);
    expect(doc.counts).toMatchObject({ events: 5, duplicates: 1, uses: 3 });
    expect(doc.read.files).toBe(4);
    expect(doc.coverage.checked).toBe(true);
    expect(doc.coverage.regions.map((x) => x.region)).toEqual(["eu-north-1"]);
    const national = doc.summary.find((k) => k.key === NATIONAL)!;
    expect(national.principals.map((p) => [p.principal, p.uses])).toEqual([
      [roleArn("drop-app-runner"), 2],
      [roleArn("drop-batch-export"), 1],
    ]);
    expect(doc.performance.peakRssMb).toBeGreaterThan(0);

    const journal = readFileSync(path.join(dir, "legal", "internkontroll.jsonl"), "utf8").trim().split("\n");
    expect(journal).toHaveLength(1);
    const entry = JSON.parse(journal[0]!) as { type: string; operation: string; details: Record<string, unknown>; params: Record<string, unknown> };
    expect(entry).toMatchObject({ type: "event", operation: "audit-decrypts", params: { since: "2026-11-15T00:00:00.000Z", until: "2026-11-22T00:00:00.000Z" }, details: { findings: 4, events: 5 } });
    for (const id of Object.values(ids)) expect(journal[0]).not.toContain(id);
  });

  it("--fail-on: exit 0 when nothing reaches the threshold; --key narrows the scope", async () => {
    const r = await audit(["--source", logs, "--json", "--key", NATIONAL, "--fail-on", "critical"], "legal-2");
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.findings.map((f) => f.rule)).toEqual([1, 3]);
    expect(doc.scope.keys.map((k) => k.name)).toEqual([NATIONAL]);
    const byArn = await audit(["--source", logs, "--json", "--key", arns[DB]!, "--fail-on", "critical"], "legal-2");
    expect(byArn.code).toBe(4);
    expect((JSON.parse(byArn.stdout) as Doc).findings.map((f) => [f.rule, f.key])).toEqual([
      [4, DB],
      [5, DB],
    ]);
  });

  it("parser threads or none: the same findings and counts", async () => {
    const pick = (d: Doc) => ({ findings: d.findings, counts: d.counts, summary: d.summary });
    const threads = JSON.parse((await audit(["--source", logs, "--json", "--workers", "2"], "legal-11")).stdout) as Doc;
    const inline = JSON.parse((await audit(["--source", logs, "--json", "--workers", "0"], "legal-11")).stdout) as Doc;
    expect(pick(inline)).toEqual(pick(threads));
    expect(threads.counts.events).toBe(5);
  });

  it("human output: summary per key and findings by severity, no colour off a TTY", async () => {
    const r = await audit(["--source", logs], "legal-3");
    expect(r.code).toBe(4);
    expect(r.stdout).toContain("Findings (4): 1 critical, 1 high, 1 medium, 1 notable");
    expect(r.stdout).toMatch(/CRITICAL\s+rule 4\s+ScheduleKeyDeletion on audit-db-/);
    expect(r.stdout).toContain(`${NATIONAL}`);
    expect(r.stdout).toContain("111122223333:role/drop-batch-export");
    // eslint-disable-next-line no-control-regex
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });

  it("--ndjson and --csv: one line per matching event, the summary on stderr", async () => {
    const nd = await audit(["--source", logs, "--ndjson"], "legal-4");
    expect(nd.code).toBe(4);
    const lines = nd.stdout.trim().split("\n").map((l) => JSON.parse(l) as { eventId: string; keys: string[] });
    expect(lines.map((l) => l.eventId).sort()).toEqual(Object.values(ids).sort());
    expect(nd.stderr).toMatch(/5 events, 4 findings/);
    const csv = await audit(["--source", logs, "--csv"], "legal-4");
    const rows = csv.stdout.trim().split("\n");
    expect(rows[0]).toBe("time,event_id,event_name,key,key_arn,principal,session,via,source_ip,error_code,region,account");
    expect(rows).toHaveLength(6);
    expect(rows.find((row) => row.includes(ids.deletion))).toContain(`ScheduleKeyDeletion,${DB},${arns[DB]}`);
  });

  it("damaged input: warned by file name, skipped and counted; --strict makes it exit 1", async () => {
    const r = await audit(["--source", damaged, "--json"], "legal-5");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ffff\.json\.gz: truncated gzip/);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.read).toMatchObject({ files: 2, filesSkipped: 1 });
    expect(doc.skippedTotal).toBe(1);
    const strict = await audit(["--source", damaged, "--strict"], "legal-5");
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/1 input was skipped \(--strict\)/);
    expect(strict.stderr).not.toMatch(/\n\s+at /);
  });

  it("--print-sql: Athena SQL for the scope and rules 1-5, reading nothing", async () => {
    const r = await audit(["--print-sql", "--athena-table", "org_trail"], "legal-6");
    expect(r.code, r.stderr).toBe(0);
    for (const n of [1, 2, 3, 4, 5]) expect(r.stdout).toContain(`-- Rule ${n} (`);
    expect(r.stdout).toContain("FROM org_trail");
    expect(r.stdout).toContain(arns[NATIONAL]);
    expect(r.stdout).toContain("f.t - g.t <= 300");
    expect(r.stdout).toContain("AT TIME ZONE 'Europe/Oslo'");
    expect(r.stdout).toContain("arn:aws:iam::111122223333:role/drop-app-runner");
  });

  it("--source s3://: the same audit from the trail's archive in S3 (moto)", async () => {
    const bucket = `dropkeys-audit-cli-${s}`;
    const s3 = s3Client();
    await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
    const upload = async (folder: string): Promise<void> => {
      for (const entry of readdirSync(folder, { withFileTypes: true })) {
        const full = path.join(folder, entry.name);
        if (entry.isDirectory()) await upload(full);
        else await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `org-trail/${path.relative(logs, full).split(path.sep).join("/")}`, Body: readFileSync(full) }));
      }
    };
    await upload(logs);
    const r = await audit(["--source", `s3://${bucket}/org-trail`, "--json"], "legal-8");
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as Doc & { sources: { kind: string; detail: { accounts: string[]; regions: string[]; objects: number } }[] };
    expect(doc.sources[0]).toMatchObject({ kind: "s3", detail: { accounts: ["111122223333"], regions: ["eu-north-1"], objects: 4 } });
    expect(doc.findings.map((f) => f.rule)).toEqual([4, 1, 3, 5]);
    expect(doc.counts).toMatchObject({ events: 5, duplicates: 1 });
  });

  it("--source api against an endpoint without LookupEvents (moto): exit 1 with a message, no stack trace", async () => {
    const r = await audit(["--source", "api", "--key", NATIONAL], "legal-9");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CloudTrail LookupEvents in eu-north-1 failed/);
    expect(r.stderr).toMatch(/hint: .*--source s3:\/\//);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("an alias moved to a replacement: the journal's earlier ARN of the name is still audited, and named", async () => {
    const earlier = "arn:aws:kms:eu-north-1:123456789012:key/0a0a0a0a-1111-2222-3333-444444444444";
    const journalDir = path.join(dir, "legal-10");
    new Journal(journalDir).append({ type: "outcome", operation: "disable", actor: { aws: "test", osUser: "test", host: "test" }, target: { name: NATIONAL, arn: earlier, region: "eu-north-1", kind: "kms-key" } });
    const archive = path.join(dir, "earlier");
    writeTrailFile(archive, "2026-11-18", "111122223333_CloudTrail_eu-north-1_20261118T1210Z_gggg.json.gz", [kmsRecord({ time: "2026-11-18T12:00:00Z", keyArn: earlier, role: "drop-batch-export" })]);
    const r = await audit(["--source", archive, "--json", "--key", NATIONAL, "--incident", "INC-AUDIT-9", "--reason", "step 9"], "legal-10");
    expect(r.code, r.stderr).toBe(4);
    // The run is journalled under the incident, with the key as target (the incident's step 9 evidence).
    const last = JSON.parse(readFileSync(path.join(journalDir, "internkontroll.jsonl"), "utf8").trim().split("\n").pop()!) as Record<string, unknown>;
    expect(last).toMatchObject({ type: "event", operation: "audit-decrypts", incident: "INC-AUDIT-9", reason: "step 9", outcome: "succeeded", target: { name: NATIONAL, kind: "kms-key" } });
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.scope.keys.map((k) => [k.name, k.arn]).sort()).toEqual([[NATIONAL, arns[NATIONAL]], [`${NATIONAL} (earlier key)`, earlier]].sort());
    expect(doc.findings.map((f) => [f.rule, f.key])).toEqual([[1, `${NATIONAL} (earlier key)`]]);
  });

  it("usage errors exit 2: an unknown key, a window that ends before it starts, two output formats", async () => {
    expect((await audit(["--source", logs, "--key", "no-such-key"], "legal-7")).code).toBe(2);
    const backwards = await runCli(["audit-decrypts", "--policy", policy, "--source", logs, "--since", "2026-11-22", "--until", "2026-11-01"], { cwd: dir, env: cliAwsEnv });
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/--since .* must be before --until/);
    expect((await audit(["--source", logs, "--json", "--csv"], "legal-7")).code).toBe(2);
  });
});
