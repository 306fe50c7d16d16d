// Drill stage: POLICY.md §5 step 9, "which decrypts used the compromised key in the last 30 days".
// The emulators record no CloudTrail events, so this stage writes a small local CloudTrail archive
// in the real delivery format: synthetic events on the keys the drill made (ARNs resolved through
// the KMS emulator, the compromised key's from the journal, since its alias now names the
// replacement), then audits it as a person would after an incident and as cron would nightly.
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { stringify } from "yaml";

const COMPROMISED = "drop-kyc-key";
const MINUTE = 60_000;

function kms(drill, region) {
  return new KMSClient({ region, endpoint: drill.emulators.kmsUrls[region], credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
}

/** The ARN behind alias/NAME; a key an earlier stage did not make is created here, and the drill says so. */
async function keyArn(drill, name, region) {
  try {
    return (await kms(drill, region).send(new DescribeKeyCommand({ KeyId: `alias/${name}` }))).KeyMetadata.Arn;
  } catch {
    const key = await kms(drill, region).send(new CreateKeyCommand({ Description: `${name} (made by the audit stage)` }));
    await kms(drill, region).send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.KeyMetadata.KeyId }));
    drill.note(`(no earlier stage made ${name}; the audit stage created it in the emulator)`);
    return key.KeyMetadata.Arn;
  }
}

/** The compromised key as the journal knows it (disable / schedule-deletion targets), before the alias moved. */
function journalledArn(drill, name) {
  const file = path.join(drill.work, "legal", "internkontroll.jsonl");
  if (!existsSync(file)) return undefined;
  const entries = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const hit = entries.find((e) => ["disable", "schedule-deletion"].includes(e.operation) && e.target?.name === name && e.target?.arn);
  return hit?.target.arn;
}

/** The incident the compromised key was disabled under, if an earlier stage did that. */
function journalledIncident(drill, name) {
  const file = path.join(drill.work, "legal", "internkontroll.jsonl");
  if (!existsSync(file)) return undefined;
  const entries = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  return entries.find((e) => e.operation === "disable" && e.target?.name === name && e.incident)?.incident;
}

function record({ time, keyArn, role, name = "Decrypt", errorCode, invokedBy }) {
  const account = keyArn.split(":")[4];
  const region = keyArn.split(":")[3];
  const session = `${role}-${time.slice(11, 13)}`;
  return {
    eventVersion: "1.08",
    userIdentity: {
      type: "AssumedRole",
      principalId: `AROADRILLEXAMPLE:${session}`,
      arn: `arn:aws:sts::${account}:assumed-role/${role}/${session}`,
      accountId: account,
      accessKeyId: "ASIADRILLEXAMPLE",
      sessionContext: {
        sessionIssuer: { type: "Role", principalId: "AROADRILLEXAMPLE", arn: `arn:aws:iam::${account}:role/${role}`, accountId: account, userName: role },
        webIdFederationData: {},
        attributes: { creationDate: time, mfaAuthenticated: "false" },
      },
      ...(invokedBy ? { invokedBy } : {}),
    },
    eventTime: time,
    eventSource: "kms.amazonaws.com",
    eventName: name,
    awsRegion: region,
    sourceIPAddress: invokedBy ?? "10.20.30.40",
    userAgent: invokedBy ?? "aws-sdk-js/3.600.0 ua/2.0 os/linux lang/js md/nodejs#20.11.0 api/kms#3.600.0",
    ...(errorCode ? { errorCode, errorMessage: `${keyArn} is disabled.` } : {}),
    requestParameters: name === "Decrypt" ? { encryptionContext: { app: "drop", purpose: "drill" }, encryptionAlgorithm: "SYMMETRIC_DEFAULT" } : { keyId: keyArn },
    responseElements: null,
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: name === "Decrypt",
    resources: [{ accountId: account, type: "AWS::KMS::Key", ARN: keyArn }],
    eventType: "AwsApiCall",
    managementEvent: true,
    recipientAccountId: account,
    eventCategory: "Management",
  };
}

function writeFile(root, region, account, deliveredMs, records, { truncate = false } = {}) {
  const d = new Date(deliveredMs);
  const folder = path.join(root, "AWSLogs", account, "CloudTrail", region, ...d.toISOString().slice(0, 10).split("-"));
  mkdirSync(folder, { recursive: true });
  const stamp = d.toISOString().replace(/[-:]/g, "").slice(0, 13) + "Z";
  const file = path.join(folder, `${account}_CloudTrail_${region}_${stamp}_${randomUUID().replaceAll("-", "").slice(0, 16)}.json.gz`);
  const gz = gzipSync(JSON.stringify({ Records: records }));
  writeFileSync(file, truncate ? gz.subarray(0, Math.floor(gz.length / 2)) : gz);
  return file;
}

/** The latest instant before `before` that is the given ISO weekday at HH:MM UTC. */
function lastWeekdayAt(before, isoWeekday, hh, mm) {
  const d = new Date(before);
  d.setUTCHours(hh, mm, 0, 0);
  while (d.getTime() >= before || (d.getUTCDay() || 7) !== isoWeekday) d.setUTCDate(d.getUTCDate() - 1);
  return d.getTime();
}

export default async function auditStage(drill) {
  // As the CLI does: the SDK's notice about future Node versions is noise in a drill.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  drill.note(drill.bold("Audit: who used which key (POLICY.md §5 step 9, §8 alerts)"));
  const now = Date.now();
  const national = await keyArn(drill, "drop-national-id-key", "eu-north-1");
  const backup = await keyArn(drill, "drop-backup-key", "eu-west-1");
  const compromised = journalledArn(drill, COMPROMISED) ?? (await keyArn(drill, COMPROMISED, "eu-north-1"));
  const account = national.split(":")[4];

  // The policy with the roles' principals filled in (the bundled one leaves them empty).
  const policy = JSON.parse(JSON.stringify(drill.policy));
  for (const role of Object.keys(policy.roles ?? {})) policy.roles[role].principals = [`arn:aws:iam::${account}:role/${role}`];
  const policyFile = path.join(drill.work, "audit.policy.yaml");
  writeFileSync(policyFile, stringify(policy));

  const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  const archive = path.join(drill.work, "cloudtrail-copy");
  const tuesday = lastWeekdayAt(now - 2 * 86_400_000, 2, 9, 30); // 10:30 or 11:30 in Oslo
  const saturdayNight = lastWeekdayAt(now, 6, 1, 15); // 02:15 or 03:15 in Oslo
  const leak = now - 35 * MINUTE; // the leaked CI role, before the compromise was noticed
  const normal = [0, 7, 19, 42].map((m) => record({ time: iso(tuesday + m * MINUTE), keyArn: national, role: "drop-app-runner" }));
  const viaS3 = record({ time: iso(tuesday + 5 * MINUTE), keyArn: compromised, role: "drop-app-runner", invokedBy: "s3.amazonaws.com" });
  const night = record({ time: iso(saturdayNight), keyArn: national, role: "drop-compliance-decrypt" });
  const stolen = [0, 2, 3].map((m) => record({ time: iso(leak + m * MINUTE), keyArn: compromised, role: "drop-ci-deploy" }));
  const disabled = record({ time: iso(now - 19 * MINUTE), keyArn: compromised, role: "drop-key-admin", name: "DisableKey" });
  // After the disable, the attacker keeps trying: DisabledException, 4 times in under 3 minutes.
  const retries = [0, 1, 1.5, 2.5].map((m) => record({ time: iso(now - 15 * MINUTE + m * MINUTE), keyArn: compromised, role: "drop-ci-deploy", errorCode: "DisabledException" }));
  const deletion = record({ time: iso(now - 10 * MINUTE), keyArn: compromised, role: "drop-key-admin", name: "ScheduleKeyDeletion" });
  const west = record({ time: iso(tuesday + 60 * MINUTE), keyArn: backup, role: "drop-app-runner" });

  writeFile(archive, "eu-north-1", account, tuesday + 50 * MINUTE, [...normal, viaS3]);
  writeFile(archive, "eu-north-1", account, tuesday + 55 * MINUTE, [normal[1]]); // delivered twice
  writeFile(archive, "eu-north-1", account, saturdayNight + 5 * MINUTE, [night]);
  writeFile(archive, "eu-north-1", account, now - 30 * MINUTE, stolen);
  writeFile(archive, "eu-north-1", account, now - 5 * MINUTE, [disabled, ...retries, deletion]);
  writeFile(archive, "eu-west-1", account, tuesday + 65 * MINUTE, [west]);
  const broken = writeFile(archive, "eu-north-1", account, now - 4 * MINUTE, [record({ time: iso(now - 6 * MINUTE), keyArn: national, role: "drop-app-runner" })], { truncate: true });
  drill.note(`A local copy of the trail's archive (as \`aws s3 sync\` leaves it): ${path.relative(drill.work, archive)}/, one file cut short (${path.basename(broken)}).`);

  const base = ["audit-decrypts", "--policy", policyFile, "--source", archive];
  const incident = journalledIncident(drill, COMPROMISED);
  drill.step(
    `Step 9: every call on ${COMPROMISED} in the last 30 days (the alias names the replacement now; the journal knows the compromised key)`,
    [...base, "--key", COMPROMISED, "--since", "30d", ...(incident ? ["--incident", incident, "--reason", "POLICY.md §5 step 9"] : [])],
    { expect: [4] },
  );
  if (incident) drill.step("The incident's checklist: step 9 is done, with the audit as evidence", ["incident", "show", incident]);
  drill.step("The same key by its ARN; --fail-on critical: the scheduled deletion still pages", [...base, "--key", compromised, "--since", "30d", "--fail-on", "critical"], { expect: [4] });
  drill.step("Nightly from cron: every KMS key of the inventory; exit 4 = a finding at high or above", [...base, "--since", "30d"], { expect: [4] });
  drill.step("Only criticals page at night (--fail-on critical); --strict turns the damaged file into exit 1", [...base, "--key", "drop-national-id-key", "--fail-on", "critical", "--strict", "--csv"], { expect: [1] });
  drill.step("The same audit for the organisation's trail in Athena", ["audit-decrypts", "--policy", policyFile, "--key", "drop-national-id-key", "--since", "30d", "--print-sql"], { expect: [0] });
}
