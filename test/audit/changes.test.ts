// `dropkeys audit-changes` end to end. A real run against the emulators (generate, disable under an
// incident, schedule a deletion, with real approvals) writes the journal; changes are then made
// around dropkeys with the AWS SDK directly. The emulators record no CloudTrail events, so the
// records are written from what the journal and those SDK calls did (scripts/cloudtrail-synth.mjs)
// into a local archive, into moto's S3, and served by the LookupEvents test server (moto has no
// LookupEvents; see test/support/lookup-events-server.ts), which the CLI reaches through the real SDK.
import { CloudTrailClient, CreateTrailCommand, StartLoggingCommand } from "@aws-sdk/client-cloudtrail";
import { CreateGrantCommand, DescribeKeyCommand, EnableKeyCommand, RotateKeyOnDemandCommand } from "@aws-sdk/client-kms";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveObjects, awsServiceIdentity, changeRecord, identityFor, readJournal, recordsFromJournal, writeArchive } from "../../scripts/cloudtrail-synth.mjs";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";
import { cliAwsEnv, kmsClient, motoUrl, s3Client, secretsClient } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { startLookupServer, type LookupServer } from "../support/lookup-events-server.js";
import { suffix } from "../support/policy.js";

const s = suffix();
const KEY_A = `chg-a-${s}`;
const KEY_B = `chg-b-${s}`;
const SECRET = `CHG_SECRET_${s}`;
const INCIDENT = `INC-CHG-${s}`;
const MALLORY = "arn:aws:sts::123456789012:assumed-role/drop-key-admin/mallory";
let world: World;
let archive: string;
let skewed: string;
let lookup: LookupServer;
let arnA: string;
const injected: Record<string, string> = {};
const ids = { refused: "", service: "" };

interface ChangesDoc {
  changes: { eventId: string; eventName: string; target: string; status: string; actor: string; request?: { id: string; operation: string; approvers: string[] } }[];
  attempts: { eventId: string; errorCode: string }[];
  findings: { rule: string; severity: string; target: string; evidence: string[] }[];
  journalWithoutEvents: { operation: string; requestId: string }[];
  counts: Record<string, number>;
  coverage: { checked: boolean; gaps: string[] };
  read: { requests?: number; throttled?: number };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

beforeAll(async () => {
  world = await makeWorld("changes", {
    inventory: [kmsEntry(KEY_A), kmsEntry(KEY_B), { name: SECRET, kind: "secret", bytes: 32, encoding: "hex", rotation: "quarterly", classification: "L3" }],
  });
  for (const args of [
    ["generate", KEY_A, "--reason", "setup"],
    ["generate", KEY_B, "--reason", "setup"],
    ["generate", SECRET, "--reason", "setup"],
    ["schedule-deletion", KEY_B, "--days", "7", "--reason", "replaced", "--confirm", `alias/${KEY_B}`],
  ]) {
    const r = await world.approved(args, args[0] === "generate" && args[1] === SECRET ? [world.alem] : [world.alem, world.alice]);
    expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  }
  const disabled = await world.approved(["disable", KEY_A, "--reason", "leaked", "--incident", INCIDENT], [world.alem]);
  expect(disabled.code, disabled.stderr).toBe(0);
  const kms = kmsClient();
  arnA = (await kms.send(new DescribeKeyCommand({ KeyId: `alias/${KEY_A}` }))).KeyMetadata!.Arn!;

  // Around dropkeys, with the same credentials: re-enable A, grant on A, a new value for the secret.
  // Each record carries the time of the SDK call it stands for.
  const enabledAt = Date.now();
  await kms.send(new EnableKeyCommand({ KeyId: arnA.split("/").pop()! }));
  const grantedAt = Date.now();
  await kms.send(new CreateGrantCommand({ KeyId: arnA.split("/").pop()!, GranteePrincipal: "arn:aws:iam::123456789012:role/drop-batch-export", Operations: ["Decrypt"] }));
  const token = `${randomBytes(4).toString("hex")}-0000-4000-8000-${randomBytes(6).toString("hex")}`;
  const putAt = Date.now();
  const secretArn = (await secretsClient().send(new PutSecretValueCommand({ SecretId: SECRET, SecretString: randomBytes(32).toString("hex"), ClientRequestToken: token }))).ARN!;
  const attacker = identityFor(MALLORY);
  const oob = [
    changeRecord({ name: "EnableKey", time: iso(enabledAt), identity: attacker, keyArn: arnA }),
    changeRecord({ name: "CreateGrant", time: iso(grantedAt), identity: attacker, keyArn: arnA }),
    changeRecord({ name: "PutSecretValue", time: iso(putAt), identity: identityFor("arn:aws:iam::123456789012:user/bob"), secretArn, params: { clientRequestToken: token } }),
  ];
  oob.forEach((r) => (injected[r.eventName as string] = r.eventID as string));
  // A refused call (an attempt, not a change) and KMS's own automatic rotation.
  const refused = changeRecord({ name: "ScheduleKeyDeletion", time: iso(enabledAt - 3000), identity: attacker, keyArn: arnA, errorCode: "AccessDeniedException" });
  const service = changeRecord({ name: "RotateKey", time: iso(enabledAt - 4000), identity: awsServiceIdentity("kms.amazonaws.com"), keyArn: arnA, eventType: "AwsServiceEvent" });
  ids.refused = refused.eventID as string;
  ids.service = service.eventID as string;
  const journal = readJournal(world.journalDir);
  archive = path.join(world.dir, "cloudtrail");
  const all = [...recordsFromJournal(journal), ...oob, refused, service];
  writeArchive(archive, all);
  // The same operations seen by a clock up to 4m59s off (inside the default 5 minutes' tolerance).
  skewed = path.join(world.dir, "cloudtrail-skewed");
  writeArchive(skewed, [...recordsFromJournal(journal, { shiftMs: (i: number) => (i % 2 ? 1 : -1) * 299_000 }), ...oob]);

  // A logging trail in eu-north-1 that records every management event: the region is covered.
  const bucket = `dropkeys-changes-${s}`;
  await s3Client().send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
  const ct = new CloudTrailClient({ region: "eu-north-1", endpoint: motoUrl(), credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
  await ct.send(new CreateTrailCommand({ Name: `changes-${s}`, S3BucketName: bucket, IsMultiRegionTrail: false }));
  await ct.send(new StartLoggingCommand({ Name: `changes-${s}` }));
  for (const [key, body] of archiveObjects(archive)) await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: `trail/${key}`, Body: body }));
  // 120 reads of A in the event history as well: more than two pages of 50 for audit-decrypts.
  const reads = Array.from({ length: 120 }, (_, i) => ({ ...changeRecord({ name: "Decrypt", time: iso(enabledAt - 60_000 + i * 100), identity: identityFor("arn:aws:sts::123456789012:assumed-role/drop-app-runner/app"), keyArn: arnA }), readOnly: true }));
  lookup = await startLookupServer([...all, ...reads], motoUrl());
}, 240_000);

afterAll(async () => {
  await lookup?.close();
  if (world) rmSync(world.dir, { recursive: true, force: true });
});

/** The test policy with CloudTrail pointed at the LookupEvents server. */
function apiPolicyFile(): string {
  const policy = parse(readFileSync(world.policyFile, "utf8")) as { endpoints: Record<string, unknown> };
  policy.endpoints.cloudtrail = lookup.url;
  const file = path.join(world.dir, "api.policy.yaml");
  writeFileSync(file, stringify(policy));
  return file;
}

const audit = (args: string[], env: NodeJS.ProcessEnv = {}) => world.cli(["audit-changes", "--since", "1h", "--json", ...args], env);

function expectFound(doc: ChangesDoc): void {
  const status = Object.fromEntries(doc.changes.map((c) => [c.eventId, c.status]));
  // Every injected change is found, as a high finding with its event id.
  for (const id of Object.values(injected)) expect(status[id], id).toBe("unmatched");
  expect(doc.findings.filter((f) => f.rule === "changed-outside-dropkeys").map((f) => f.evidence[0]).sort()).toEqual(Object.values(injected).sort());
  expect(doc.findings.every((f) => f.severity === "high")).toBe(true);
  // Every approved operation's calls are matched, with the request and its approvers.
  const matched = doc.changes.filter((c) => c.status === "matched");
  expect(matched.map((c) => c.eventName).sort()).toEqual(
    ["CreateKey", "CreateAlias", "EnableKeyRotation", "CreateKey", "CreateAlias", "EnableKeyRotation", "CreateSecret", "ScheduleKeyDeletion", "DisableKey"].sort(),
  );
  expect(matched.find((c) => c.eventName === "DisableKey")).toMatchObject({ target: KEY_A, request: { operation: "disable", approvers: ["alem"] } });
  expect(matched.find((c) => c.eventName === "ScheduleKeyDeletion")).toMatchObject({ target: KEY_B, request: { operation: "schedule-deletion" } });
  expect(matched.find((c) => c.eventName === "ScheduleKeyDeletion")!.request!.approvers.sort()).toEqual(["alem", "alice"]);
  expect(doc.journalWithoutEvents).toEqual([]);
}

describe("dropkeys audit-changes", () => {
  it("a local archive: every change outside dropkeys found, every approved call matched, a refused call only an attempt, AWS's own rotation apart; exit 4", async () => {
    const r = await audit(["--source", archive]);
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as ChangesDoc;
    expectFound(doc);
    expect(doc.attempts.map((a) => [a.eventId, a.errorCode])).toEqual([[ids.refused, "AccessDeniedException"]]);
    expect(doc.changes.map((c) => c.eventId)).not.toContain(ids.refused);
    expect(doc.changes.find((c) => c.eventId === ids.service)?.status).toBe("aws-service");
    expect(doc.coverage).toMatchObject({ checked: true, gaps: [] });
    // The run is journalled with counts, never events.
    const last = world.journal().pop()!;
    expect(last).toMatchObject({ type: "event", operation: "audit-changes", details: { unmatched: 3, attempts: 1 } });
    expect(JSON.stringify(last)).not.toContain(injected.EnableKey);
  });

  it("human output names the change made outside dropkeys and who made it", async () => {
    const r = await world.cli(["audit-changes", "--since", "1h", "--source", archive]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`Changed outside dropkeys:[\\s\\S]*EnableKey\\s+${KEY_A}\\s+123456789012:role/drop-key-admin`));
    expect(r.stdout).toMatch(/3 outside dropkeys/);
  });

  it("a clock skewed by up to the tolerance: no false finding; a tolerance of 1s turns them into findings", async () => {
    const ok = JSON.parse((await audit(["--source", skewed])).stdout) as ChangesDoc;
    expect(ok.findings.map((f) => f.evidence[0]).sort()).toEqual(Object.values(injected).sort());
    const tight = JSON.parse((await audit(["--source", skewed, "--clock-skew", "1s"])).stdout) as ChangesDoc;
    expect(tight.findings.length).toBeGreaterThan(3);
  });

  it("audit-decrypts --also-changes: both audits in one pass over the archive, the same change findings", async () => {
    const r = await world.cli(["audit-decrypts", "--since", "1h", "--json", "--source", archive, "--also-changes"]);
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as { read: { files: number }; findings: { rule: number }[]; changeAudit: ChangesDoc & { read: { files: number } } };
    expectFound(doc.changeAudit);
    expect(doc.findings.map((f) => f.rule)).toContain(4);
    // One pass: the change audit's reading is the same reading.
    expect(doc.changeAudit.read.files).toBe(doc.read.files);
    const operations = world.journal().slice(-2).map((e) => e.operation);
    expect(operations).toEqual(["audit-decrypts", "audit-changes"]);
  });

  it("a journal entry whose calls CloudTrail never saw is reported", async () => {
    const only = path.join(world.dir, "cloudtrail-without-disable");
    const journal = readJournal(world.journalDir);
    writeArchive(only, recordsFromJournal(journal).filter((r: Record<string, unknown>) => r.eventName !== "DisableKey"));
    // The window must hold the operation and the tolerance after it.
    const doc = JSON.parse((await audit(["--source", only, "--until", new Date(Date.now() + 10 * 60_000).toISOString()])).stdout) as ChangesDoc;
    expect(doc.journalWithoutEvents.map((j) => j.operation)).toEqual(["disable"]);
    expect(doc.findings.map((f) => f.rule)).toEqual(["journal-without-cloudtrail"]);
  });

  it("the trail's archive in moto's S3: the same answer", async () => {
    const r = await audit(["--source", `s3://dropkeys-changes-${s}/trail`]);
    expect(r.code, r.stderr).toBe(4);
    expectFound(JSON.parse(r.stdout) as ChangesDoc);
  });

  it("--source api through the real SDK against the LookupEvents server: paged, paced, the same answer", async () => {
    const apiPolicy = apiPolicyFile();
    const r = await runCli(["audit-changes", "--policy", apiPolicy, "--journal", world.journalDir, "--since", "1h", "--json", "--source", "api"], { env: cliAwsEnv, cwd: world.dir });
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as ChangesDoc;
    expectFound(doc);
    // A ThrottlingException (above 2 requests/s) is waited out and retried, never a lost page.
    expect(doc.read.requests).toBe(lookup.stats.get("eu-north-1")!.requests);
    expect(doc.read.throttled).toBe(lookup.stats.get("eu-north-1")!.throttled);
    // audit-decrypts reads the same endpoint: the KMS management events of the inventory keys.
    const decrypts = await runCli(["audit-decrypts", "--policy", apiPolicy, "--journal", world.journalDir, "--since", "1h", "--json", "--source", "api", "--key", KEY_A], { env: cliAwsEnv, cwd: world.dir });
    // Exit 4: the refused ScheduleKeyDeletion is rule 4 (critical) there.
    expect(decrypts.code, decrypts.stderr).toBe(4);
    const d = JSON.parse(decrypts.stdout) as { counts: { uses: number }; findings: { rule: number; evidence: string[] }[]; read: { files: number; requests: number } };
    expect(d.counts.uses).toBe(120);
    expect(d.read.files).toBeGreaterThanOrEqual(3);
    expect(d.findings.find((f) => f.rule === 4)?.evidence).toEqual([ids.refused]);
  });

  it("a coverage gap is refused: no trail records the region's changes; the api source beyond 90 days", async () => {
    const policy = parse(readFileSync(world.policyFile, "utf8")) as { inventory: Record<string, unknown>[] };
    policy.inventory = [{ name: SECRET, kind: "secret", bytes: 32, encoding: "hex", rotation: "quarterly", region: "eu-south-2" }];
    const gapPolicy = path.join(world.dir, "gap.policy.yaml");
    writeFileSync(gapPolicy, stringify(policy));
    const r = await runCli(["audit-changes", "--policy", gapPolicy, "--journal", path.join(world.dir, "legal-gap"), "--since", "1h", "--source", archive], { env: cliAwsEnv, cwd: world.dir });
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/eu-south-2: .*NOT recorded/);
    expect(r.stdout).toMatch(/this is not "all matched"/);
    expect(r.stdout).not.toMatch(/Every change matches/);
    const old = await runCli(["audit-changes", "--policy", apiPolicyFile(), "--journal", path.join(world.dir, "legal-gap"), "--since", "120d", "--json", "--source", "api"], { env: cliAwsEnv, cwd: world.dir });
    expect(old.code).toBe(4);
    expect((JSON.parse(old.stdout) as ChangesDoc).coverage.gaps[0]).toMatch(/NOT in CloudTrail's event history/);
  });

  it("status: the journal explains B's deletion (request, date); A re-enabled and the secret's new value were changed outside dropkeys", async () => {
    const r = await world.cli(["status", "--json"]);
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as { entries: { name: string; health: string; explanation?: string; problems: string[] }[] };
    const by = Object.fromEntries(doc.entries.map((e) => [e.name, e]));
    const deletion = readJournal(world.journalDir).find((e) => (e as { operation: string }).operation === "schedule-deletion") as { requestId: string };
    expect(by[KEY_B]).toMatchObject({ health: "explained" });
    expect(by[KEY_B]!.explanation).toMatch(new RegExp(`^pending deletion: request ${deletion.requestId}, deletes on \\d{4}-`));
    expect(by[KEY_A]).toMatchObject({ health: "unexpected-state" });
    expect(by[KEY_A]!.problems.join("\n")).toMatch(/changed outside dropkeys since .*: Enabled, but the journal's last operation \(disable, request .*\) left it Disabled/);
    expect(by[SECRET]).toMatchObject({ health: "unexpected-state" });
    expect(by[SECRET]!.problems.join("\n")).toMatch(/changed outside dropkeys since .*: AWSCURRENT is version /);
    const human = await world.cli(["status"]);
    expect(human.stdout).toMatch(new RegExp(`${KEY_B}: pending deletion: request`));
  });

  it("status: a key disabled under an incident is explained by the incident, not unexpected-state", async () => {
    const disabled = await world.approved(["disable", KEY_A, "--reason", "disable again after the SDK re-enabled it", "--incident", INCIDENT], [world.alem]);
    expect(disabled.code, disabled.stderr).toBe(0);
    const doc = JSON.parse((await world.cli(["status", "--json"])).stdout) as { entries: { name: string; health: string; explanation?: string }[] };
    const a = doc.entries.find((e) => e.name === KEY_A)!;
    expect(a.health).toBe("explained");
    expect(a.explanation).toMatch(new RegExp(`^disabled: incident ${INCIDENT}, since `));
  });

  it("status: an on-demand rotation with no rotate-key in the journal was changed outside dropkeys", async () => {
    const before = JSON.parse((await world.cli(["status", "--json"])).stdout) as { entries: { name: string; problems: string[] }[] };
    expect(before.entries.find((e) => e.name === KEY_A)!.problems.join("\n")).not.toMatch(/rotated on demand/);
    await kmsClient().send(new RotateKeyOnDemandCommand({ KeyId: arnA.split("/").pop()! }));
    const after = JSON.parse((await world.cli(["status", "--json"])).stdout) as { entries: { name: string; health: string; problems: string[] }[] };
    const a = after.entries.find((e) => e.name === KEY_A)!;
    // Disabled under the incident is still explained; the rotation is the finding.
    expect(a.health).toBe("unexpected-state");
    expect(a.problems.join("\n")).toMatch(/changed outside dropkeys since .*: rotated on demand 1 time with no rotate-key in the journal/);
  });

  it("without a configured mirror: the local journal by default; --journal-source mirror is a usage error (exit 2)", async () => {
    const local = JSON.parse((await audit(["--source", archive])).stdout) as { journal: { source: string; differences: string[] } };
    expect(local.journal).toMatchObject({ source: "local", differences: [] });
    const r = await world.cli(["audit-changes", "--source", archive, "--journal-source", "mirror"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/configures no journal mirror/);
  });
});
