// `dropkeys audit-changes` reads the journal from its WORM mirror (S3 Object Lock, in moto) where the
// sealed policy configures one, so an insider who holds dropkeys' AWS credentials and can write the
// local journal cannot explain away a change she made around dropkeys. The attack: an approved
// disable runs (mirrored); she disables another inventory key with the AWS SDK directly; then she
// appends a forged, chain-consistent `disable` intent and outcome for it (with approvals copied from
// a real entry) to the LOCAL journal only, head fixed. The emulators record no CloudTrail events, so
// the records are written from the journal and the SDK call (scripts/cloudtrail-synth.mjs) into a
// local archive; moto serves the trail that makes the region covered.
import { CloudTrailClient, CreateTrailCommand, StartLoggingCommand } from "@aws-sdk/client-cloudtrail";
import { CreateAliasCommand, DescribeKeyCommand, DisableKeyCommand } from "@aws-sdk/client-kms";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { randomUUID } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { changeRecord, identityFor, readJournal, recordsFromJournal, writeArchive } from "../../scripts/cloudtrail-synth.mjs";
import type { JournalEntry } from "../../src/lib/journal/journal.js";
import { JournalMirror, listMirrorEntries } from "../../src/lib/journal/mirror.js";
import { createKmsKey } from "../db/support.js";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";
import { kmsClient, motoUrl, s3Client } from "../support/aws.js";
import { writeJournal } from "../support/forge-journal.js";
import { suffix } from "../support/policy.js";

const s = suffix();
const bucket = `internkontroll-chg-${s}`;
const mirrorUrl = `s3://${bucket}/legal`;
const APPROVED = `chgm-approved-${s}`;
const AROUND = `chgm-around-${s}`;
// The insider uses the same role dropkeys runs under.
const INSIDER = "arn:aws:sts::123456789012:assumed-role/drop-key-admin/mallory";
const kms = kmsClient();
let world: World;
let archive: string;
let sdkEventId: string;
let disabledAt: number;
let forged: { intent: JournalEntry; outcome: JournalEntry };

interface ChangesDoc {
  journal: { source: string; location: string; differences: string[] };
  changes: { eventId: string; eventName: string; target: string; status: string; request?: { id: string; operation: string; approvers: string[] } }[];
  findings: { rule: string; severity: string; target: string; evidence: string[] }[];
  coverage: { checked: boolean; gaps: string[] };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const localEntries = () => readJournal(world.journalDir) as JournalEntry[];

beforeAll(async () => {
  const s3 = s3Client();
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
  for (const name of [APPROVED, AROUND]) {
    const key = await createKmsKey();
    await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.keyId }));
  }
  world = await makeWorld("changes-mirror", { inventory: [kmsEntry(APPROVED), kmsEntry(AROUND)], journal: { mirror: mirrorUrl } });

  // (1) An approved operation, run as dropkeys runs it: journalled and mirrored.
  const r = await world.approved(["disable", APPROVED, "--reason", "drill"], [world.alem]);
  expect(r.code, r.stderr).toBe(0);
  const mirrored = await listMirrorEntries(new JournalMirror(s3, mirrorUrl, 1827), localEntries()[0]!.hash);
  expect(mirrored, "before the attack the mirror holds the local journal").toEqual(localEntries());

  // (2) Around dropkeys, with the same credentials: the AWS SDK disables the other inventory key.
  const around = (await kms.send(new DescribeKeyCommand({ KeyId: `alias/${AROUND}` }))).KeyMetadata!;
  disabledAt = Date.now();
  await kms.send(new DisableKeyCommand({ KeyId: around.KeyId! }));
  expect((await kms.send(new DescribeKeyCommand({ KeyId: around.KeyId! }))).KeyMetadata!.KeyState).toBe("Disabled");

  // What CloudTrail recorded: the approved operation's calls and the SDK call.
  const sdkCall = changeRecord({ name: "DisableKey", time: iso(disabledAt), identity: identityFor(INSIDER), keyArn: around.Arn! });
  sdkEventId = sdkCall.eventID as string;
  archive = path.join(world.dir, "cloudtrail");
  writeArchive(archive, [...recordsFromJournal(localEntries()), sdkCall]);

  // (3) The forgery: a `disable` of AROUND shaped like the real one (approvals copied from it),
  // its intent just before the SDK call and its outcome just after, appended to the local journal.
  const entries = localEntries();
  const realIntent = entries.find((e) => e.type === "intent" && e.operation === "disable")!;
  const realOutcome = entries.find((e) => e.type === "outcome" && e.intentSeq === realIntent.seq)!;
  const requestId = randomUUID();
  const target = { ...realIntent.target, name: AROUND, arn: around.Arn! };
  const intentSeq = entries.length + 1;
  const intent = { ...realIntent, seq: intentSeq, requestId, target, time: new Date(disabledAt - 2000).toISOString(), reason: "suspected leak, disabled at once" };
  const outcome = { ...realOutcome, seq: intentSeq + 1, requestId, intentSeq, target: { ...(realOutcome.target ?? target), name: AROUND, arn: around.Arn! }, time: new Date(disabledAt + 1000).toISOString() };
  writeJournal(world.journalDir, [...entries, intent, outcome]);
  const written = localEntries();
  forged = { intent: written[intentSeq - 1]!, outcome: written[intentSeq]! };
  expect(forged.intent.approvals?.map((a) => a.approver)).toEqual(["alem"]);

  // A trail in moto records every management event of eu-north-1: the region is covered.
  const trailBucket = `dropkeys-chgm-${s}`;
  await s3.send(new CreateBucketCommand({ Bucket: trailBucket, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
  const ct = new CloudTrailClient({ region: "eu-north-1", endpoint: motoUrl(), credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
  await ct.send(new CreateTrailCommand({ Name: `chgm-${s}`, S3BucketName: trailBucket, IsMultiRegionTrail: false }));
  await ct.send(new StartLoggingCommand({ Name: `chgm-${s}` }));
}, 240_000);

afterAll(() => {
  if (world) rmSync(world.dir, { recursive: true, force: true });
});

const audit = (args: string[] = []) => world.cli(["audit-changes", "--since", "1h", "--json", "--source", archive, ...args]);

describe("audit-changes against a local journal forged to explain a change made around dropkeys", () => {
  it("the local journal alone is intact: the forgery is chain-consistent", async () => {
    const r = await world.cli(["log", "verify", "--no-mirror"]);
    expect(r.code, r.stdout).toBe(0);
  });

  it("by default the journal is read from the mirror: the SDK DisableKey is unmatched (high, exit 4), the forged entries are named, the approved disable matches", async () => {
    const r = await audit();
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as ChangesDoc;
    expect(doc.journal).toMatchObject({ source: "mirror", location: mirrorUrl });
    expect(doc.coverage).toMatchObject({ checked: true, gaps: [] });
    const sdk = doc.changes.find((c) => c.eventId === sdkEventId);
    expect(sdk).toMatchObject({ eventName: "DisableKey", target: AROUND, status: "unmatched" });
    expect(sdk!.request).toBeUndefined();
    expect(doc.findings).toEqual([expect.objectContaining({ rule: "changed-outside-dropkeys", severity: "high", target: AROUND, evidence: [sdkEventId] })]);
    // The approved operation of step 1 is explained by the mirrored journal, with its approver.
    const approved = doc.changes.find((c) => c.eventName === "DisableKey" && c.target === APPROVED);
    expect(approved).toMatchObject({ status: "matched", request: { operation: "disable", approvers: ["alem"] } });
    expect(approved!.request!.id).not.toBe(forged.intent.requestId);
    // The local copy is only compared: the warning names both forged entries.
    expect(r.stderr).toContain(`local journal vs mirror: entry ${forged.intent.seq} (intent disable ${forged.intent.requestId}) is only in the local journal`);
    expect(r.stderr).toContain(`local journal vs mirror: entry ${forged.outcome.seq} (outcome disable ${forged.outcome.requestId}) is only in the local journal`);
    expect(doc.journal.differences).toHaveLength(2);
  });

  it("taking the mirror out of the policy file does not switch the audit to the local journal: the seal names the mirror", async () => {
    const original = readFileSync(world.policyFile, "utf8");
    const edited = parse(original) as Record<string, unknown>;
    delete edited.journal;
    writeFileSync(world.policyFile, stringify(edited));
    try {
      const r = await audit();
      expect(r.code, r.stderr).toBe(4);
      const doc = JSON.parse(r.stdout) as ChangesDoc;
      expect(doc.journal).toMatchObject({ source: "mirror", location: mirrorUrl });
      expect(doc.changes.find((c) => c.eventId === sdkEventId)?.status).toBe("unmatched");
    } finally {
      writeFileSync(world.policyFile, original);
    }
  });

  it("--journal-source local: the forged entry explains the change away (exit 0), which is exactly why the mirror is the default", async () => {
    const r = await audit(["--journal-source", "local"]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as ChangesDoc;
    expect(doc.journal.source).toBe("local");
    expect(doc.changes.find((c) => c.eventId === sdkEventId)).toMatchObject({
      status: "matched",
      request: { id: forged.intent.requestId, operation: "disable", approvers: ["alem"] },
    });
    expect(doc.findings).toEqual([]);
    expect(r.stderr).not.toContain("local journal vs mirror");
  });

  it("the audits wrote nothing of the forgery to the mirror: it still explains nothing", async () => {
    const mirrored = await listMirrorEntries(new JournalMirror(s3Client(), mirrorUrl, 1827), localEntries()[0]!.hash);
    expect(mirrored.map((e) => e.requestId)).not.toContain(forged.intent.requestId);
    const doc = JSON.parse((await audit()).stdout) as ChangesDoc;
    expect(doc.changes.find((c) => c.eventId === sdkEventId)?.status).toBe("unmatched");
  });

  it("laundered into the mirror by the next command's catch-up seconds later, the forged intent still explains nothing: it reached the mirror after the change", async () => {
    // Seconds, well inside the 5 minutes' clock skew: the mirror's time and CloudTrail's are both AWS's.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, disabledAt + 5000 - Date.now())));
    // Any mutating command first writes what the mirror lacks (meant for an emergency disable that
    // went on without it), even one refused for want of approvals: the insider alone runs one.
    const r = await world.cli(["enable", APPROVED, "--reason", "catch up", "--no-input"]);
    expect(r.code, r.stderr).toBe(3);
    const mirrored = await listMirrorEntries(new JournalMirror(s3Client(), mirrorUrl, 1827), localEntries()[0]!.hash);
    expect(mirrored.find((e) => e.seq === forged.intent.seq), "the premise: the forgery is now in the WORM mirror").toEqual(forged.intent);

    const a = await audit();
    expect(a.code, a.stderr).toBe(4);
    const doc = JSON.parse(a.stdout) as ChangesDoc & { findings: { message: string }[] };
    expect(a.stderr).not.toContain(`entry ${forged.intent.seq} `);
    expect(doc.changes.find((c) => c.eventId === sdkEventId)).toMatchObject({ status: "unmatched" });
    expect(doc.findings).toHaveLength(1);
    expect(doc.findings[0]).toMatchObject({ rule: "changed-outside-dropkeys", severity: "high", evidence: [sdkEventId] });
    expect(doc.findings[0]!.message).toContain(`journal entry #${forged.intent.seq} (disable, request ${forged.intent.requestId}) claims it but reached the mirror only at`);
    // The approved disable's intent was mirrored before its call: still matched.
    expect(doc.changes.find((c) => c.eventName === "DisableKey" && c.target === APPROVED)?.status).toBe("matched");
  });
});
