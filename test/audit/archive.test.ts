// A trail's archive as it really lies in a log bucket, read by the built CLI: digest, Insights and
// AWS Config files beside the logs (recognised and ignored, not skipped), the same records
// delivered twice, records sharing only an eventID, and the same answer with any number of parser
// threads. A parser thread that dies fails the run, naming the file.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliAwsEnv } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { writePolicy } from "../support/policy.js";
import { ACCOUNT, kmsRecord, roleArn } from "./fixtures/cloudtrail.js";
import { callers, insightRecord, params, shape } from "./fixtures/shapes.js";

const KEY = `arn:aws:kms:eu-north-1:${ACCOUNT}:key/55555555-5555-5555-5555-555555555555`;
let dir: string;
let policy: string;
let archive: string;
const logDir = (root: string, kind: string, day: string) => path.join(root, "AWSLogs", ACCOUNT, kind, "eu-north-1", ...day.split("-"));

function put(folder: string, name: string, body: string, gzip = true): string {
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, name);
  writeFileSync(file, gzip ? gzipSync(body) : body);
  return file;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-audit-archive-"));
  policy = writePolicy(dir, { roles: { "drop-app-runner": { principals: [roleArn("drop-app-runner")] } }, inventory: [{ name: "AUDIT_SECRET", kind: "secret", rotation: "annual" }] });
  archive = path.join(dir, "bucket");
  const day = "2026-11-18";
  const logs = logDir(archive, "CloudTrail", day);
  // 60 small files of a few events each, five minutes apart, as CloudTrail delivers them.
  for (let i = 0; i < 60; i++) {
    const minute = String(i % 60).padStart(2, "0");
    const records = [
      kmsRecord({ time: `${day}T12:${minute}:00Z`, keyArn: KEY, role: i % 7 === 0 ? "drop-batch-export" : "drop-app-runner" }),
      kmsRecord({ time: `${day}T12:${minute}:30Z`, keyArn: KEY, role: "drop-intruder", errorCode: i % 3 === 0 ? undefined : "AccessDeniedException" }),
    ];
    put(logs, `${ACCOUNT}_CloudTrail_eu-north-1_20261118T12${minute}Z_${String(i).padStart(4, "0")}abcdefabcdef.json.gz`, JSON.stringify({ Records: records }));
    // Every tenth file delivered a second time (another object name, the same records).
    if (i % 10 === 0) put(logs, `${ACCOUNT}_CloudTrail_eu-north-1_20261118T12${minute}Z_${String(i).padStart(4, "0")}zzzzzzzzzzzz.json.gz`, JSON.stringify({ Records: records }));
  }
  // One eventID in two files with different principals and the same time and name: a duplicate by
  // definition; the first in the listing's order must win whichever thread finishes first.
  const conflict = (role: string) =>
    shape({ name: "ScheduleKeyDeletion", time: `${day}T13:00:00Z`, id: "conflicting-copy", identity: callers.assumedRole(role), params: params.scheduleKeyDeletion(KEY), resources: [KEY] });
  put(logs, `${ACCOUNT}_CloudTrail_eu-north-1_20261118T1300Z_0001aaaaaaaaaaaa.json.gz`, JSON.stringify({ Records: [conflict("drop-first-copy")] }));
  put(logs, `${ACCOUNT}_CloudTrail_eu-north-1_20261118T1300Z_0002aaaaaaaaaaaa.json.gz`, JSON.stringify({ Records: [conflict("drop-second-copy")] }));
  // Beside the logs, as in a real bucket: digests, Insights, Config history and snapshots.
  put(logDir(archive, "CloudTrail-Digest", day), `${ACCOUNT}_CloudTrail-Digest_eu-north-1_trail_eu-north-1_20261118T130000Z.json.gz`, JSON.stringify({ awsAccountId: ACCOUNT, digestStartTime: `${day}T12:00:00Z`, logFiles: [] }));
  put(logDir(archive, "CloudTrail-Insight", day), `${ACCOUNT}_CloudTrail-Insight_eu-north-1_20261118T1300Z_abcdefabcdef.json.gz`, JSON.stringify({ Records: [insightRecord(`${day}T12:30:00Z`)] }));
  const configItems = { fileVersion: "1.0", configurationItems: [{ configurationItemVersion: "1.3", resourceType: "AWS::KMS::Key", resourceId: KEY, awsRegion: "eu-north-1" }] };
  put(logDir(archive, "Config", day), `${ACCOUNT}_Config_eu-north-1_ConfigHistory_AWS::KMS::Key_20261118T120000Z_20261118T130000Z_1.json.gz`, JSON.stringify(configItems));
  put(logDir(archive, "Config", day), `${ACCOUNT}_Config_eu-north-1_ConfigSnapshot_20261118T130000Z_abcdef.json.gz`, JSON.stringify({ ...configItems, configSnapshotId: "abcdef" }));
  put(path.join(archive, "AWSLogs", ACCOUNT), "ConfigWritabilityCheckFile", "", false);
  // Copied out of their folders (as a person might): recognised by their content instead.
  put(path.join(archive, "loose"), "history.json", JSON.stringify(configItems), false);
  put(path.join(archive, "loose"), "digest.json.gz", JSON.stringify({ awsAccountId: ACCOUNT, digestStartTime: `${day}T12:00:00Z`, digestPublicKeyFingerprint: "ab", logFiles: [] }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Doc {
  counts: { events: number; duplicates: number; failures: number };
  read: { files: number; filesSkipped: number; filesIgnored: number };
  skippedTotal: number;
  findings: { rule: number; principal: string; evidence: string[]; first: string }[];
  summary: unknown;
}
const audit = (args: string[], journal: string) =>
  runCli(["audit-decrypts", "--policy", policy, "--journal", path.join(dir, journal), "--source", archive, "--since", "2026-11-15T00:00:00Z", "--until", "2026-11-22T00:00:00Z", "--all-keys", "--no-coverage", "--json", ...args], { cwd: dir, env: cliAwsEnv });

describe("a real log bucket's archive", () => {
  it("ignores digest, Insights and Config files (not skipped, so --strict passes) and counts records delivered twice once", async () => {
    const r = await audit(["--strict"], "legal-1");
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.read).toMatchObject({ files: 68, filesSkipped: 0, filesIgnored: 7 });
    expect(doc.skippedTotal).toBe(0);
    expect(r.stderr).not.toMatch(/skipped|no Records/);
    // 120 records + 1 conflicting id; 6 files of 2 records delivered twice + the conflicting copy.
    expect(doc.counts).toMatchObject({ events: 121, duplicates: 13 });
    const conflicting = doc.findings.filter((f) => f.evidence.includes("conflicting-copy"));
    expect(conflicting.map((f) => f.principal)).toEqual([roleArn("drop-first-copy")]);
  });

  it("the same findings, counts and summary with 0, 1, 2 and 3 parser threads, run after run", async () => {
    const answers = [];
    for (const workers of ["0", "1", "2", "3", "2"]) {
      const doc = JSON.parse((await audit(["--workers", workers], `legal-w${workers}`)).stdout) as Doc;
      answers.push(JSON.stringify({ findings: doc.findings, counts: doc.counts, summary: doc.summary }));
    }
    for (const a of answers.slice(1)) expect(a).toEqual(answers[0]);
  });
});

it("a parser thread that dies (out of memory) fails the run with the file's name, never a silent success", async () => {
  // The built module: parser threads run the compiled worker.
  const { listLocal, readLocalFiles } = (await import(path.resolve("dist/lib/audit/sources/local.js"))) as typeof import("../../src/lib/audit/sources/local.js");
  // A KMS record carrying 3 MB of incompressible text: more than the thread's heap can hold.
  const heavy = path.join(dir, "heavy");
  const padding = randomBytes(2_300_000).toString("base64");
  put(heavy, `${ACCOUNT}_CloudTrail_eu-north-1_20261118T1200Z_heavyheavyheav.json.gz`, JSON.stringify({ Records: [kmsRecord({ time: "2026-11-18T12:00:00Z", keyArn: KEY, extra: { padding } })] }));
  const files = listLocal(heavy, 0, Date.parse("2100-01-01")).files;
  const filter = { since: 0, until: Date.parse("2100-01-01"), keys: null, keepKeyless: true };
  await expect(readLocalFiles(files, filter, 2, () => {}, { maxOldGenerationSizeMb: 2, maxYoungGenerationSizeMb: 1 })).rejects.toMatchObject({
    kind: "failed",
    message: expect.stringMatching(/_CloudTrail_eu-north-1_.*dropkeys failed to read it \(the parser thread died/),
  });
});
