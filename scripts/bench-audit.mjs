// Benchmark of `dropkeys audit-decrypts` on local archives against zcat, zcat | jq and DuckDB
// (bottom of this file), and the synthetic CloudTrail archives it reads, in the real delivery
// format: AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz,
// each file `{"Records":[...]}` of compact records with the fields and key order CloudTrail writes.
// The mix: about a third KMS (Decrypt, GenerateDataKey, Encrypt, a few failures and key
// management), the rest S3 data events, STS, EC2, Secrets Manager, Lambda, DynamoDB, CloudWatch Logs.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createGzip, gzipSync } from "node:zlib";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const ACCOUNT = "111122223333";
export const REGIONS = ["eu-north-1", "eu-west-1"];
export const KEYS = {
  "eu-north-1": ["0b7f3c2e-1111-4c6a-9e51-000000000001", "0b7f3c2e-1111-4c6a-9e51-000000000002", "0b7f3c2e-1111-4c6a-9e51-000000000003"],
  "eu-west-1": ["0b7f3c2e-1111-4c6a-9e51-000000000004"],
};
export const keyArn = (region, id) => `arn:aws:kms:${region}:${ACCOUNT}:key/${id}`;

const ROLES = ["drop-app-runner", "drop-compliance-decrypt", "drop-app-encrypt", "drop-key-admin", "drop-batch-export", "drop-ci-deploy"];
const AGENTS = [
  "aws-sdk-js/3.600.0 ua/2.0 os/linux#5.10 lang/js md/nodejs#20.11.0 api/kms#3.600.0",
  "Boto3/1.34.2 md/Botocore#1.34.2 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.2",
  "aws-cli/2.15.10 Python/3.11.6 Linux/6.1.0 exe/x86_64.ubuntu.22 prompt/off command/kms.decrypt",
  "s3.amazonaws.com",
];

// mulberry32: a seeded generator, so every run writes the same mix.
let seed = 42;
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (xs) => xs[Math.floor(rand() * xs.length)];

function assumedRole(role) {
  const session = `${role}-${Math.floor(rand() * 50)}`;
  return {
    type: "AssumedRole",
    principalId: `AROA${role.length}EXAMPLEID:${session}`,
    arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${session}`,
    accountId: ACCOUNT,
    accessKeyId: "ASIAEXAMPLEKEYID1234",
    sessionContext: {
      sessionIssuer: { type: "Role", principalId: `AROA${role.length}EXAMPLEID`, arn: `arn:aws:iam::${ACCOUNT}:role/${role}`, accountId: ACCOUNT, userName: role },
      webIdFederationData: {},
      attributes: { creationDate: "2026-11-01T08:00:00Z", mfaAuthenticated: "false" },
    },
  };
}

const tls = { tlsVersion: "TLSv1.3", cipherSuite: "TLS_AES_128_GCM_SHA256", clientProvidedHostHeader: "kms.eu-north-1.amazonaws.com" };

function kmsRecord(time, region) {
  const role = pick(ROLES);
  const key = pick(KEYS[region]);
  const r = rand();
  const name = r < 0.62 ? "Decrypt" : r < 0.85 ? "GenerateDataKey" : r < 0.95 ? "Encrypt" : r < 0.985 ? "DescribeKey" : r < 0.995 ? "CreateGrant" : "DisableKey";
  const viaS3 = rand() < 0.2;
  const rec = {
    eventVersion: "1.08",
    userIdentity: { ...assumedRole(role), ...(viaS3 ? { invokedBy: "s3.amazonaws.com" } : {}) },
    eventTime: time,
    eventSource: "kms.amazonaws.com",
    eventName: name,
    awsRegion: region,
    sourceIPAddress: viaS3 ? "s3.amazonaws.com" : `10.0.${Math.floor(rand() * 255)}.${Math.floor(rand() * 255)}`,
    userAgent: viaS3 ? "s3.amazonaws.com" : pick(AGENTS),
    requestParameters:
      name === "Decrypt" || name === "Encrypt" || name === "GenerateDataKey"
        ? {
            ...(name === "Decrypt" ? {} : { keyId: `alias/drop-key-${key.slice(-1)}` }),
            encryptionContext: viaS3 ? { "aws:s3:arn": `arn:aws:s3:::drop-kyc-documents/${randomUUID()}.pdf` } : { tenant: "drop", recordId: String(Math.floor(rand() * 1e9)) },
            encryptionAlgorithm: "SYMMETRIC_DEFAULT",
            ...(name === "GenerateDataKey" ? { keySpec: "AES_256" } : {}),
          }
        : { keyId: keyArn(region, key) },
    responseElements: name === "CreateGrant" ? { grantId: randomUUID().replaceAll("-", "") } : null,
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: name !== "CreateGrant" && name !== "DisableKey",
    resources: [{ accountId: ACCOUNT, type: "AWS::KMS::Key", ARN: keyArn(region, key) }],
    eventType: "AwsApiCall",
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    eventCategory: "Management",
    ...(viaS3 ? {} : { tlsDetails: { ...tls, clientProvidedHostHeader: `kms.${region}.amazonaws.com` } }),
  };
  if (rand() < 0.01) {
    rec.errorCode = "AccessDenied";
    rec.errorMessage = `User: ${rec.userIdentity.arn} is not authorized to perform: kms:${name} on resource: ${keyArn(region, key)} because no identity-based policy allows the kms:${name} action`;
  }
  return rec;
}

function otherRecord(time, region) {
  const role = pick(ROLES);
  const r = rand();
  const base = { eventVersion: "1.09", userIdentity: assumedRole(role), eventTime: time };
  const common = (source, name, params, response, extra = {}) => ({
    ...base,
    eventSource: source,
    eventName: name,
    awsRegion: region,
    sourceIPAddress: `10.1.${Math.floor(rand() * 255)}.${Math.floor(rand() * 255)}`,
    userAgent: pick(AGENTS.slice(0, 3)),
    requestParameters: params,
    responseElements: response,
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: true,
    eventType: "AwsApiCall",
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    eventCategory: "Management",
    ...extra,
  });
  const object = `kyc/${randomUUID()}/passport.pdf`;
  if (r < 0.45)
    return common(
      "s3.amazonaws.com",
      pick(["GetObject", "PutObject", "HeadObject"]),
      { bucketName: "drop-kyc-documents", Host: "drop-kyc-documents.s3.eu-north-1.amazonaws.com", key: object, "x-id": "GetObject" },
      null,
      {
        additionalEventData: { SignatureVersion: "SigV4", CipherSuite: "TLS_AES_128_GCM_SHA256", bytesTransferredIn: 0, AuthenticationMethod: "AuthHeader", "x-amz-id-2": "EXAMPLE+id2/abc=", bytesTransferredOut: 48213 },
        resources: [
          { type: "AWS::S3::Object", ARN: `arn:aws:s3:::drop-kyc-documents/${object}` },
          { accountId: ACCOUNT, type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::drop-kyc-documents" },
        ],
        managementEvent: false,
        eventCategory: "Data",
      },
    );
  if (r < 0.6)
    return common(
      "sts.amazonaws.com",
      "AssumeRole",
      { roleArn: `arn:aws:iam::${ACCOUNT}:role/${role}`, roleSessionName: `${role}-session`, durationSeconds: 3600 },
      {
        credentials: { accessKeyId: "ASIAEXAMPLEKEYID5678", sessionToken: "IQoJb3JpZ2luX2VjEXAMPLETOKEN", expiration: "Nov 23, 2026, 9:00:00 PM" },
        assumedRoleUser: { assumedRoleId: `AROAEXAMPLE:${role}-session`, arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${role}-session` },
      },
      { resources: [{ accountId: ACCOUNT, type: "AWS::IAM::Role", ARN: `arn:aws:iam::${ACCOUNT}:role/${role}` }] },
    );
  if (r < 0.72) return common("ec2.amazonaws.com", "DescribeInstances", { instancesSet: {}, filterSet: { items: [{ name: "tag:app", valueSet: { items: [{ value: "drop-api" }] } }] } }, null);
  if (r < 0.82)
    return common("secretsmanager.amazonaws.com", "GetSecretValue", { secretId: `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:JWT_SECRET-AbCdEf`, versionStage: "AWSCURRENT" }, null);
  if (r < 0.9) return common("lambda.amazonaws.com", "Invoke", { functionName: `arn:aws:lambda:${region}:${ACCOUNT}:function:drop-webhook`, invocationType: "RequestResponse" }, null, { managementEvent: false, eventCategory: "Data" });
  if (r < 0.96) return common("dynamodb.amazonaws.com", "Query", { tableName: "drop-sessions", indexName: "by-user", select: "ALL_ATTRIBUTES", limit: 25 }, null, { managementEvent: false, eventCategory: "Data" });
  return common("logs.amazonaws.com", "CreateLogStream", { logGroupName: "/aws/lambda/drop-webhook", logStreamName: `2026/11/23/[$LATEST]${randomUUID().replaceAll("-", "")}` }, null);
}

/**
 * A real archive's shape: one small file per account and region every five minutes (about
 * 100,000 per region and year), each of `records` records, ending at `end`.
 */
export function generateSmallFiles(dir, { count, records = 1, end = new Date(), kmsShare = 0.5 }) {
  const stats = { files: 0, bytes: 0, records: 0, kmsRecords: 0, compressedBytes: 0 };
  const made = new Set();
  const perRegion = Math.ceil(count / REGIONS.length);
  for (let f = 0; f < count; f++) {
    const region = REGIONS[f % REGIONS.length];
    const fileTime = end.getTime() - (perRegion - Math.floor(f / REGIONS.length)) * 300_000;
    const parts = [];
    for (let r = 0; r < records; r++) {
      const t = new Date(fileTime - 290_000 + Math.floor(rand() * 280_000)).toISOString().replace(/\.\d+Z$/, "Z");
      const kms = rand() < kmsShare;
      parts.push(JSON.stringify(kms ? kmsRecord(t, region) : otherRecord(t, region)));
      stats.records++;
      if (kms) stats.kmsRecords++;
    }
    const body = `{"Records":[${parts.join(",")}]}`;
    const d = new Date(fileTime);
    const folder = path.join(dir, "AWSLogs", ACCOUNT, "CloudTrail", region, ...d.toISOString().slice(0, 10).split("-"));
    if (!made.has(folder)) {
      mkdirSync(folder, { recursive: true });
      made.add(folder);
    }
    const stamp = d.toISOString().replace(/[-:]/g, "").slice(0, 13) + "Z";
    const gz = gzipSync(body);
    writeFileSync(path.join(folder, `${ACCOUNT}_CloudTrail_${region}_${stamp}_${randomUUID().replaceAll("-", "").slice(0, 16)}.json.gz`), gz);
    stats.files++;
    stats.bytes += Buffer.byteLength(body);
    stats.compressedBytes += gz.length;
  }
  return stats;
}

/** One very large log file of `targetBytes` uncompressed JSON, written as a gzip stream (never held whole). */
export async function generateLargeFile(dir, { targetBytes, end = new Date(), kmsShare = 0.33 }) {
  const stats = { files: 1, bytes: 0, records: 0, kmsRecords: 0, compressedBytes: 0 };
  const d = new Date(end.getTime() - 3_600_000);
  const region = REGIONS[0];
  const folder = path.join(dir, "AWSLogs", ACCOUNT, "CloudTrail", region, ...d.toISOString().slice(0, 10).split("-"));
  mkdirSync(folder, { recursive: true });
  const stamp = d.toISOString().replace(/[-:]/g, "").slice(0, 13) + "Z";
  const file = path.join(folder, `${ACCOUNT}_CloudTrail_${region}_${stamp}_0000000000large.json.gz`);
  const gzip = createGzip();
  const out = createWriteStream(file);
  const done = new Promise((resolve, reject) => out.on("finish", resolve).on("error", reject));
  gzip.pipe(out);
  const write = async (text) => {
    stats.bytes += Buffer.byteLength(text);
    if (!gzip.write(text)) await new Promise((r) => gzip.once("drain", r));
  };
  await write('{"Records":[');
  let t = d.getTime() - 3_000_000;
  let batch = [];
  while (stats.bytes < targetBytes) {
    t += Math.floor(rand() * 5);
    const time = new Date(t).toISOString().replace(/\.\d+Z$/, "Z");
    const kms = rand() < kmsShare;
    batch.push(JSON.stringify(kms ? kmsRecord(time, region) : otherRecord(time, region)));
    stats.records++;
    if (kms) stats.kmsRecords++;
    if (batch.length === 1000) {
      await write((stats.records > 1000 ? "," : "") + batch.join(","));
      batch = [];
    }
  }
  await write((batch.length && stats.records > batch.length ? "," : "") + batch.join(",") + "]}");
  gzip.end();
  await done;
  stats.compressedBytes = statSync(file).size;
  return stats;
}

// ---------------------------------------------------------------------------------------------
// The benchmark (`npm run bench`): dropkeys audit-decrypts against `zcat` (the decompression
// floor), `zcat | jq` and DuckDB's read_json over the same files, run alternately, on three archives:
//   small: 100,000 one-record files (a real archive: one file per account and region every 5 min);
//   large: one 2 GB file (uncompressed);   both: the two together.
// Goals: small <= 2x zcat's time; large >= 0.5x zcat's throughput; peak RSS < 250 MB in all three.
// BENCH_AUDIT_SCALE (default 1) scales both sizes (0.1: 10,000 files and 200 MB, a quick run);
// BENCH_AUDIT_RUNS (default 2) runs of each tool per archive, the best counted.
// DuckDB (pinned in .cache/sql-venv by scripts/aws-emulators.mjs install) takes ~4 ms per small
// file here, so it reads a tenth of the small files, compared with zcat over that same tenth.

const sh = (script, args = [], extra = {}) => {
  const started = process.hrtime.bigint();
  const r = spawnSync("sh", ["-c", script, "sh", ...args], { encoding: "utf8", maxBuffer: 64 << 20, ...extra });
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, status: r.status, stdout: r.stdout, stderr: r.stderr };
};

function zcat(dir) {
  const r = sh(`find "$1" -name '*.json.gz' -print0 | xargs -0 zcat > /dev/null`, [dir]);
  if (r.status !== 0) throw new Error(`zcat failed: ${r.stderr}`);
  return { seconds: r.seconds };
}

function zcatList(listFile) {
  const r = sh(`xargs -0 -a "$1" zcat > /dev/null`, [listFile]);
  if (r.status !== 0) throw new Error(`zcat failed: ${r.stderr}`);
  return { seconds: r.seconds };
}

/** zcat | jq; a 2 GB file is one JSON document, which jq holds whole: capped at 8 GB of memory. */
function jq(dir) {
  const r = sh(`ulimit -v 8000000; find "$1" -name '*.json.gz' -print0 | xargs -0 zcat | jq -c '.Records[] | select(.eventSource == "kms.amazonaws.com")' | wc -l`, [dir]);
  if (r.status !== 0 || /error|memory/i.test(r.stderr)) return { seconds: r.seconds, failed: (r.stderr.trim().split("\n").pop() ?? "failed").slice(0, 80) };
  return { seconds: r.seconds, events: Number(r.stdout.trim()) };
}

/** DuckDB over the files of a list; a file of one 2 GB JSON document needs an object limit that large. */
function duckdb(python, files, maxObjectBytes = 16 << 20) {
  const script = `
import duckdb, json, sys
files = [f for f in open(sys.argv[1]).read().split("\\0") if f]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute("SET memory_limit = '8GB'")
if int(sys.argv[2]) > 16777216: con.execute("SET threads = 1")
n = con.execute("""SELECT count(*) FROM (SELECT unnest(Records) AS r FROM read_json(?, columns = {'Records': 'STRUCT(eventSource VARCHAR)[]'},
  format = 'unstructured', maximum_object_size = ?)) WHERE r.eventSource = 'kms.amazonaws.com'""", [files, int(sys.argv[2])]).fetchone()[0]
print(n)
`;
  const started = process.hrtime.bigint();
  const r = spawnSync(python, ["-c", script, files, String(maxObjectBytes)], { encoding: "utf8", maxBuffer: 1 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) return { seconds, failed: (r.stderr.split("\n").find((line) => /Error|Exception/.test(line)) ?? "failed").replace(/^.*?Exception: /, "").slice(0, 60) };
  return { seconds, events: Number(r.stdout.trim()) };
}

function dropkeys(dir, policy, journal) {
  const { seconds, doc, rssMb } = runAuditCli(["audit-decrypts", "--source", dir, "--all-keys", "--since", "400d", "--policy", policy, "--journal", journal]);
  return { seconds, events: doc.read.kmsEvents, files: doc.read.files, rssMb };
}

/**
 * One audit command of the built CLI, offline (--json, no coverage, nothing fails the run): its
 * wall time, its JSON report and its peak RSS (GNU time's, else the report's own).
 */
export function runAuditCli(commandArgs) {
  const args = [path.join(root, "bin", "dropkeys"), ...commandArgs, "--json", "--no-coverage", "--fail-on", "none", "--endpoint-url", "http://127.0.0.1:9"];
  const env = { ...process.env, AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench", AWS_MAX_ATTEMPTS: "1", AWS_EC2_METADATA_DISABLED: "true", CI: "true" };
  const useTime = existsSync("/usr/bin/time");
  const started = process.hrtime.bigint();
  const r = useTime
    ? spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, ...args], { env, encoding: "utf8", maxBuffer: 256 << 20 })
    : spawnSync(process.execPath, args, { env, encoding: "utf8", maxBuffer: 256 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`dropkeys ${commandArgs[0]} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const doc = JSON.parse(r.stdout);
  const timeRss = useTime ? Number(r.stderr.trim().split("\n").pop()) / 1024 : 0;
  return { seconds, doc, rssMb: Math.max(timeRss, doc.performance.peakRssMb) };
}

function ensureJq() {
  if (sh("command -v jq").status === 0) return;
  if (typeof process.getuid === "function" && process.getuid() === 0 && sh("command -v apt-get").status === 0) spawnSync("apt-get", ["install", "-y", "jq"], { stdio: "inherit" });
  if (sh("command -v jq").status !== 0) {
    console.error("bench-audit: jq is not installed and could not be installed; install it (apt-get install jq) to measure the baseline.");
    process.exit(1);
  }
}

const best = (xs) => xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
const fmt = (x) => (x.failed ? `failed (${x.failed})` : `${x.seconds.toFixed(1)} s`);

async function main() {
  ensureJq();
  const { installSqlTools } = await import(pathToFileURL(path.join(root, "scripts", "aws-emulators.mjs")).href);
  const python = installSqlTools();
  const scale = Number(process.env.BENCH_AUDIT_SCALE ?? 1);
  const runs = Math.max(1, Number(process.env.BENCH_AUDIT_RUNS ?? 2));
  const smallCount = Math.max(100, Math.round(100_000 * scale));
  const largeMb = Math.max(10, Math.round(2000 * scale));
  const work = mkdtempSync(path.join(tmpdir(), "dropkeys-bench-audit-"));
  try {
    const archive = path.join(work, "archive");
    const small = path.join(archive, "small");
    const large = path.join(archive, "large");
    let t0 = Date.now();
    const end = new Date(Date.now() - 3_600_000);
    const s = generateSmallFiles(small, { count: smallCount, end });
    console.log(`audit-decrypts: ${s.files} small files (${(s.compressedBytes / s.files).toFixed(0)} bytes gzip each, ${s.kmsRecords} KMS records) written in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    t0 = Date.now();
    const l = await generateLargeFile(large, { targetBytes: largeMb * 1e6, end });
    console.log(`audit-decrypts: one file of ${(l.bytes / 1e6).toFixed(0)} MB (${(l.compressedBytes / 1e6).toFixed(0)} MB gzip, ${l.records} records, ${l.kmsRecords} KMS) written in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const policy = path.join(work, "bench.policy.yaml");
    // No KMS key in the inventory: --all-keys needs no key resolution, so only reading is measured.
    writeFileSync(policy, "version: 1\ninventory:\n  - { name: BENCH_SECRET, kind: secret, rotation: annual }\n");
    const journal = path.join(work, "legal");
    // DuckDB's sample: every tenth small file, in a NUL-separated list (zcat reads the same list).
    const list = sh(`find "$1" -name '*.json.gz' | sort`, [small]).stdout.trim().split("\n");
    const sample = path.join(work, "sample.list");
    writeFileSync(sample, list.filter((_, i) => i % 10 === 0).join("\0") + "\0");
    const largeList = path.join(work, "large.list");
    writeFileSync(largeList, sh(`find "$1" -name '*.json.gz'`, [large]).stdout.trim() + "\0");

    const rows = [];
    const measure = (name, dir, expected, tools) => {
      const m = { zcat: [], dropkeys: [], jq: [], duckdb: [], zcatSample: [] };
      for (let i = 0; i < runs; i++) {
        m.zcat.push(zcat(dir));
        m.dropkeys.push(dropkeys(dir, policy, journal));
        if (tools.jq) m.jq.push(jq(dir));
        if (tools.duckdb) {
          m.zcatSample.push(zcatList(tools.duckdb.list));
          m.duckdb.push(duckdb(python, tools.duckdb.list, tools.duckdb.maxObjectBytes));
        }
      }
      const d = best(m.dropkeys);
      const z = best(m.zcat);
      const rss = Math.max(...m.dropkeys.map((x) => x.rssMb));
      for (const x of [...m.jq, ...(tools.duckdb?.maxObjectBytes ? m.duckdb : [])]) if (!x.failed && x.events !== expected) console.log(`!! ${name}: a baseline counted ${x.events} KMS events, expected ${expected}`);
      if (d.events !== expected) {
        console.log(`!! ${name}: dropkeys read ${d.events} KMS events, the generator wrote ${expected}`);
        process.exitCode = 1;
      }
      const j = m.jq.length ? best(m.jq.filter((x) => !x.failed).length ? m.jq.filter((x) => !x.failed) : m.jq) : undefined;
      const k = m.duckdb.length ? best(m.duckdb.filter((x) => !x.failed).length ? m.duckdb.filter((x) => !x.failed) : m.duckdb) : undefined;
      rows.push({ name, z, d, rss, j, k, zs: m.zcatSample.length ? best(m.zcatSample) : undefined });
    };
    const both = (s.kmsRecords ?? 0) + l.kmsRecords;
    measure("small", small, s.kmsRecords, { jq: true, duckdb: { list: sample } });
    measure("large", large, l.kmsRecords, { jq: true, duckdb: { list: largeList, maxObjectBytes: l.bytes + 1024 } });
    measure("both", archive, both, {});

    console.log(`  best of ${runs} alternating runs each; ${availableParallelism()} cores; times are wall clock`);
    console.log("  archive  zcat       dropkeys   dropkeys/zcat  zcat|jq                  DuckDB                      dropkeys peak RSS");
    let ok = true;
    for (const r of rows) {
      const ratio = r.d.seconds / r.z.seconds;
      const goal = r.name === "large" ? ratio <= 2 : r.name === "small" ? ratio <= 2 : true;
      ok &&= goal && r.rss < 250;
      const jqText = r.j ? (r.j.failed ? fmt(r.j) : `${fmt(r.j)} (${(r.j.seconds / r.z.seconds).toFixed(2)}x zcat)`) : "-";
      const duckText = r.k ? (r.k.failed ? fmt(r.k) : `${fmt(r.k)} (${(r.k.seconds / (r.name === "small" ? r.zs.seconds : r.z.seconds)).toFixed(2)}x zcat${r.name === "small" ? ", 1/10 of the files" : ""})`) : "-";
      console.log(`  ${r.name.padEnd(7)}  ${fmt(r.z).padEnd(9)}  ${fmt(r.d).padEnd(9)}  ${ratio.toFixed(2).padStart(5)}x${r.name === "large" ? ` (${(1 / ratio).toFixed(2)}x throughput)` : ""}  ${jqText.padEnd(23)}  ${duckText.padEnd(26)}  ${r.rss.toFixed(0)} MB`);
    }
    console.log(`  goals: small <= 2x zcat's time, large >= 0.5x zcat's throughput, peak RSS < 250 MB: ${ok ? "met" : "MISSED"}`);
    if (!ok) process.exitCode = 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();
