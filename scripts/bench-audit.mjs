// Benchmark of `dropkeys audit-decrypts` on a local archive against zcat | jq (bottom of this file),
// and the synthetic CloudTrail archive it reads (also used by the drill), in the real delivery format: AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz,
// each file `{"Records":[...]}` of compact records with the fields and key order CloudTrail writes.
// The mix: about a third KMS (Decrypt, GenerateDataKey, Encrypt, a few failures and key
// management), the rest S3 data events, STS, EC2, Secrets Manager, Lambda, DynamoDB, CloudWatch Logs.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

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
 * Write files until `targetBytes` of uncompressed JSON exist under `dir`. Events are spread over
 * the `days` before `end`. Returns {files, bytes, records, kmsRecords, compressedBytes}.
 */
export function generateArchive(dir, { targetBytes, fileBytes = 2_000_000, end = new Date(), days = 20, kmsShare = 0.33 }) {
  const stats = { files: [], bytes: 0, records: 0, kmsRecords: 0, compressedBytes: 0 };
  const startMs = end.getTime() - days * 86_400_000;
  const totalFiles = Math.max(1, Math.ceil(targetBytes / fileBytes));
  for (let f = 0; f < totalFiles; f++) {
    const region = REGIONS[f % REGIONS.length];
    const fileTime = startMs + Math.floor(((f + 1) / totalFiles) * (end.getTime() - startMs - 600_000));
    const parts = [];
    let size = 14;
    let t = fileTime - 300_000;
    while (size < fileBytes) {
      t += Math.floor(rand() * 300);
      const kms = rand() < kmsShare;
      const rec = kms ? kmsRecord(new Date(t).toISOString().replace(/\.\d+Z$/, "Z"), region) : otherRecord(new Date(t).toISOString().replace(/\.\d+Z$/, "Z"), region);
      const text = JSON.stringify(rec);
      parts.push(text);
      size += text.length + 1;
      stats.records++;
      if (kms) stats.kmsRecords++;
    }
    const body = `{"Records":[${parts.join(",")}]}`;
    const d = new Date(fileTime);
    const ymd = d.toISOString().slice(0, 10).split("-");
    const stamp = d.toISOString().replace(/[-:]/g, "").slice(0, 13) + "Z";
    const folder = path.join(dir, "AWSLogs", ACCOUNT, "CloudTrail", region, ...ymd);
    mkdirSync(folder, { recursive: true });
    const file = path.join(folder, `${ACCOUNT}_CloudTrail_${region}_${stamp}_${randomUUID().slice(0, 16).replaceAll("-", "")}.json.gz`);
    const gz = gzipSync(body, { level: 6 });
    writeFileSync(file, gz);
    stats.files.push(file);
    stats.bytes += Buffer.byteLength(body);
    stats.compressedBytes += gz.length;
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------
// The benchmark (`npm run bench`): dropkeys audit-decrypts on the local archive against
// `zcat FILES | jq -c '.Records[] | select(.eventSource == "kms.amazonaws.com")'`, alternately,
// best of BENCH_AUDIT_RUNS (default 2) each. Goals: >= 3x jq's throughput, peak RSS < 250 MB.
// BENCH_AUDIT_MB sets the archive size (default 1100 MB uncompressed, i.e. at least 1 GB).

function haveJq() {
  return spawnSync("sh", ["-c", "command -v jq"], { encoding: "utf8" }).status === 0;
}

function ensureJq() {
  if (haveJq()) return;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  if (root && spawnSync("sh", ["-c", "command -v apt-get"]).status === 0) {
    console.log("jq is missing: apt-get install -y jq");
    spawnSync("apt-get", ["install", "-y", "jq"], { stdio: "inherit" });
  }
  if (!haveJq()) {
    console.error("bench-audit: jq is not installed and could not be installed; install it (apt-get install jq) to measure the baseline.");
    process.exit(1);
  }
}

function runDropkeys(dir, policy, journal, extra = []) {
  const bin = path.join(root, "bin", "dropkeys");
  const args = [bin, "audit-decrypts", "--source", dir, "--all-keys", "--since", "30d", "--json", "--no-coverage", "--fail-on", "none", "--policy", policy, "--journal", journal, "--endpoint-url", "http://127.0.0.1:9", ...extra];
  const env = { ...process.env, AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench", AWS_MAX_ATTEMPTS: "1", AWS_EC2_METADATA_DISABLED: "true", CI: "true" };
  const useTime = existsSync("/usr/bin/time");
  const started = process.hrtime.bigint();
  const r = useTime
    ? spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, ...args], { env, encoding: "utf8", maxBuffer: 256 << 20 })
    : spawnSync(process.execPath, args, { env, encoding: "utf8", maxBuffer: 256 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`dropkeys exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const doc = JSON.parse(r.stdout);
  const timeRss = useTime ? Number(r.stderr.trim().split("\n").pop()) / 1024 : undefined;
  return { seconds, events: doc.read.kmsEvents, bytes: doc.read.bytes, rssMb: Math.max(timeRss ?? 0, doc.performance.peakRssMb), workers: doc.performance.workers };
}

function runJq(files) {
  const started = process.hrtime.bigint();
  const r = spawnSync("sh", ["-c", `zcat "$@" | jq -c '.Records[] | select(.eventSource == "kms.amazonaws.com")' | wc -l`, "sh", ...files], { encoding: "utf8", maxBuffer: 1 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`zcat | jq failed: ${r.stderr}`);
  return { seconds, events: Number(r.stdout.trim()) };
}

async function main() {
  ensureJq();
  const targetMb = Number(process.env.BENCH_AUDIT_MB ?? 1100);
  const runs = Math.max(1, Number(process.env.BENCH_AUDIT_RUNS ?? 2));
  const work = mkdtempSync(path.join(tmpdir(), "dropkeys-bench-audit-"));
  try {
    const archive = path.join(work, "archive");
    const t0 = Date.now();
    const stats = generateArchive(archive, { targetBytes: targetMb * 1e6, end: new Date(Date.now() - 3_600_000) });
    console.log(
      `audit-decrypts: synthetic CloudTrail archive of ${stats.files.length} files, ${(stats.bytes / 1e6).toFixed(0)} MB uncompressed (${(stats.compressedBytes / 1e6).toFixed(0)} MB gzip), ` +
        `${stats.records} records, ${stats.kmsRecords} KMS; written in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    // No KMS key in the inventory: --all-keys needs no key resolution, so only parsing is measured.
    const policy = path.join(work, "bench.policy.yaml");
    writeFileSync(policy, "version: 1\ninventory:\n  - { name: BENCH_SECRET, kind: secret, rotation: annual }\n");
    const journal = path.join(work, "legal");
    const dk = [];
    const jq = [];
    for (let i = 0; i < runs; i++) {
      dk.push(runDropkeys(archive, policy, journal));
      jq.push(runJq(stats.files));
    }
    // Do the parser threads pay? The same run with parsing in the main thread (gunzip still on libuv's pool).
    const single = runDropkeys(archive, policy, journal, ["--workers", "0"]);
    const best = (xs) => xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const d = best(dk);
    const j = best(jq);
    if (d.events !== stats.kmsRecords || j.events !== stats.kmsRecords) {
      console.log(`!! event counts differ: generated ${stats.kmsRecords} KMS records, dropkeys read ${d.events}, jq printed ${j.events}`);
      process.exitCode = 1;
    }
    const mb = stats.bytes / 1e6;
    const rss = Math.max(...dk.map((x) => x.rssMb));
    const ratio = j.seconds / d.seconds;
    console.log(`  (best of ${runs} alternating runs each; ${d.workers} parser thread${d.workers === 1 ? "" : "s"}; ${availableParallelism()} cores)`);
    console.log(`  zcat | jq         ${j.seconds.toFixed(2).padStart(7)} s  ${(j.events / j.seconds).toFixed(0).padStart(8)} events/s  ${(mb / j.seconds).toFixed(1).padStart(7)} MB/s`);
    console.log(`  dropkeys audit    ${d.seconds.toFixed(2).padStart(7)} s  ${(d.events / d.seconds).toFixed(0).padStart(8)} events/s  ${(mb / d.seconds).toFixed(1).padStart(7)} MB/s`);
    console.log(`  (no parser threads ${single.seconds.toFixed(2).padStart(7)} s  ${(single.events / single.seconds).toFixed(0).padStart(8)} events/s  ${(mb / single.seconds).toFixed(1).padStart(7)} MB/s  peak RSS ${single.rssMb.toFixed(0)} MB)`);
    console.log(`  ratio ${ratio.toFixed(2)}x jq (goal >= 3)   peak RSS ${rss.toFixed(0)} MB (goal < 250)   ${ratio >= 3 && rss < 250 ? "goals met" : "GOAL MISSED"}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();
