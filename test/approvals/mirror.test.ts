// The journal's write-once mirror in S3 (moto, which enforces Object Lock retention), attacked
// by an insider who can write the local journal directory and holds the AWS credentials
// dropkeys uses: a used request replayed into a copy of the journal, a consistent rewrite of
// chain and head, a truncation, a fresh directory with a first-use seal of two keys she holds,
// overwriting and deleting mirrored entries. Each is refused before anything happens (exit 5 for
// a journal that disagrees with its mirror, exit 3 for the seal) or named by `log verify`.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CreateAliasCommand, DescribeKeyCommand, EnableKeyCommand } from "@aws-sdk/client-kms";
import { CreateBucketCommand, DeleteObjectCommand, GetObjectLockConfigurationCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import type { JournalEntry } from "../../src/lib/journal/journal.js";
import { listMirrorEntries, JournalMirror } from "../../src/lib/journal/mirror.js";
import { approverEntries, makeSshApprover, signRequest } from "../support/approvers.js";
import { cliAwsEnv, kmsClient, motoUrl, s3Client } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { writeJournal } from "../support/forge-journal.js";
import { suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";
import { createKmsKey } from "../db/support.js";

const kms = kmsClient();
const s3 = s3Client();
const s = suffix();
const bucket = `internkontroll-${s}`;
const mirrorUrl = `s3://${bucket}/legal`;
const names = ["a", "b", "c", "d", "e"].map((n) => `mirror-${n}-${s}`);
const keys: Record<string, string> = {};
let w: World;

const keyState = async (name: string) => (await kms.send(new DescribeKeyCommand({ KeyId: keys[name]! }))).KeyMetadata!.KeyState;

function lines(journalDir: string): JournalEntry[] {
  return readFileSync(path.join(journalDir, "internkontroll.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalEntry);
}

function copyJournal(): string {
  const copy = mkdtempSync(path.join(w.dir, "copy-"));
  cpSync(w.journalDir, copy, { recursive: true });
  return copy;
}

/** `disable NAME` approved by alem, run against `journalDir`. */
async function disableIn(journalDir: string, name: string) {
  const g = ["--policy", w.policyFile, "--journal", journalDir];
  const req = path.join(w.dir, `req-${suffix()}.json`);
  const written = await runCli(["disable", name, "--reason", "drill", "--request-out", req, ...g], { env: cliAwsEnv, cwd: w.dir });
  expect(written.code, written.stderr).toBe(0);
  return runCli(["apply", req, "--approval", signRequest(req, w.alem), ...g], { env: cliAwsEnv, cwd: w.dir });
}

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
  for (const name of names) {
    const key = await createKmsKey();
    await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.keyId }));
    keys[name] = key.keyId;
  }
  w = await makeWorld("mirror", { inventory: names.map((n) => kmsEntry(n)), journal: { mirror: mirrorUrl } });
});

describe("the journal mirror", () => {
  it("holds every entry as its own object, locked in COMPLIANCE mode for 5 years; a locked version cannot be deleted", async () => {
    expect((await w.approved(["disable", names[0]!, "--reason", "drill"], [w.alem])).code).toBe(0);
    const local = lines(w.journalDir);
    expect(local).toHaveLength(4);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "legal/" }));
    const id = local[0]!.hash;
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([1, 2, 3, 4].map((n) => `legal/${id}/${String(n).padStart(10, "0")}.json`));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `legal/${id}/0000000003.json` }));
    expect(head.ObjectLockMode).toBe("COMPLIANCE");
    expect(head.ObjectLockRetainUntilDate!.getTime()).toBeGreaterThan(Date.now() + 1800 * 86_400_000);
    await expect(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `legal/${id}/0000000003.json`, VersionId: head.VersionId }))).rejects.toThrow();
    // What a reconciliation reads: the mirror's entries in seq order, equal to the local ones.
    const mirror = new JournalMirror(s3, mirrorUrl, 1827);
    expect(await listMirrorEntries(mirror)).toEqual(local);
    const r = await w.cli(["log", "verify"]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain(`The mirror ${mirrorUrl} holds exactly these entries`);
  });

  it("a used request replayed into a copy of the journal is refused before anything happens (exit 5 naming the entry)", async () => {
    const name = names[1]!;
    const req = path.join(w.dir, "replay.json");
    expect((await w.cli(["disable", name, "--reason", "drill", "--request-out", req])).code).toBe(0);
    const sig = signRequest(req, w.alem);
    const copy = copyJournal();
    expect((await w.cli(["apply", req, "--approval", sig])).code).toBe(0);
    expect(await keyState(name)).toBe("Disabled");
    await kms.send(new EnableKeyCommand({ KeyId: keys[name]! }));
    const before = lines(copy).length;
    const r = await runCli(["apply", req, "--approval", sig, "--policy", w.policyFile, "--journal", copy], { env: cliAwsEnv, cwd: w.dir });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`the local journal ends at entry #${before}, but its mirror ${mirrorUrl} holds entries up to #${before + 2}: entry #${before + 1} is missing here`);
    expect(await keyState(name)).toBe("Enabled");
    expect(lines(copy)).toHaveLength(before);
  });

  it("a consistent rewrite of chain and head: operations exit 5, log verify exit 1 naming the entry and the change", async () => {
    const copy = copyJournal();
    const entries = lines(copy);
    entries[2] = { ...entries[2]!, reason: "routine test, no incident" };
    writeJournal(copy, entries);
    const chain = await runCli(["log", "verify", "--no-mirror", "--journal", copy, "--policy", w.policyFile], { env: cliAwsEnv });
    expect(chain.code, "the local chain alone looks intact").toBe(0);
    const r = await disableIn(copy, names[2]!);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("local entry #3 differs from its copy in the mirror");
    expect(await keyState(names[2]!)).toBe("Enabled");
    const v = await runCli(["log", "verify", "--journal", copy, "--policy", w.policyFile], { env: cliAwsEnv });
    expect(v.code).toBe(1);
    expect(v.stdout).toContain("entry #3: changed: entry #3 differs from its mirrored copy");
    expect(v.stdout).toContain("entry #4: rewritten: entry #4 differs from its mirrored copy too (the chain was rewritten from #3)");
  });

  it("a truncation with its head: operations exit 5, log verify exit 1 naming the first missing entry", async () => {
    const copy = copyJournal();
    const entries = lines(copy);
    writeJournal(copy, entries.slice(0, -2));
    const r = await disableIn(copy, names[2]!);
    expect(r.code).toBe(5);
    // Writing the request repaired internkontroll.md (still holding the cut entries) with an event
    // entry, which took the first cut entry's number: the mirror check names that entry as changed.
    const first = entries.length - 1;
    expect(r.stderr).toMatch(new RegExp(`entry #${first} (is missing here|differs from its copy in the mirror)`));
    expect(await keyState(names[2]!)).toBe("Enabled");
    const v = await runCli(["log", "verify", "--journal", copy, "--policy", w.policyFile], { env: cliAwsEnv });
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(new RegExp(`entry #${first}: (truncated|changed)`));
    expect(v.stdout).toMatch(/truncated: the local journal ends at entry #\d+, but the mirror holds entries/);
  });

  it("a fresh directory with a first-use seal of two keys one person holds is refused: the mirror already holds a journal (exit 3)", async () => {
    const dir = mkdtempSync(path.join(w.dir, "fresh-"));
    const second = makeSshApprover(dir, "al1ce", ["CISO", "security-lead"]);
    const policy = parse(readFileSync(w.policyFile, "utf8")) as Record<string, unknown>;
    const own = { ...w.alice, roles: ["drop-key-admin", "CISO"] };
    policy.approvers = approverEntries([own, { ...second, email: "al1ce@elsewhere.example" }]);
    const policyFile = path.join(dir, "policy.yaml");
    writeFileSync(policyFile, stringify(policy));
    const g = ["--policy", policyFile, "--journal", path.join(dir, "legal")];
    const req = path.join(dir, "seal.json");
    // Refused when the request is written, before anyone signs; and at the terminal the same.
    let r = await runCli(["policy", "seal", "--request-out", req, ...g], { env: cliAwsEnv, cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`the journal mirror ${mirrorUrl} already holds journal ${lines(w.journalDir)[0]!.hash.slice(0, 16)}…`);
    r = await runCli(["policy", "seal", ...g], { env: cliAwsEnv, cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`the journal mirror ${mirrorUrl} already holds journal ${lines(w.journalDir)[0]!.hash.slice(0, 16)}…`);
  });

  it("mirror down: an emergency disable goes on with a warning and an entry saying so; other operations exit 5; the next command catches up", async () => {
    const original = readFileSync(w.policyFile, "utf8");
    const policy = parse(original) as { endpoints: Record<string, unknown> };
    policy.endpoints.s3 = "http://127.0.0.1:9";
    writeFileSync(w.policyFile, stringify(policy));
    try {
      const name = names[3]!;
      const r = await w.approved(["disable", name, "--reason", "key leaked"], [w.alem]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("WARNING: the journal mirror");
      expect(await keyState(name)).toBe("Disabled");
      const last = lines(w.journalDir).at(-1)!;
      expect(last).toMatchObject({ type: "event", operation: "journal-mirror", reason: "emergency disable went on without the journal mirror" });

      const enable = await w.approved(["enable", name, "--reason", "false alarm"], [w.alice, w.alem]);
      expect(enable.code).toBe(5);
      expect(enable.stderr).toContain(`cannot list the journal mirror ${mirrorUrl}`);
      expect(await keyState(name)).toBe("Disabled");
    } finally {
      writeFileSync(w.policyFile, original);
    }
    let v = await w.cli(["log", "verify"]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/entry #\d+: missing: entry #\d+ is not in the mirror/);
    // The next operation writes what the mirror lacks first.
    expect((await w.approved(["enable", names[3]!, "--reason", "false alarm"], [w.alice, w.alem])).code).toBe(0);
    v = await w.cli(["log", "verify"]);
    expect(v.code, v.stdout).toBe(0);
  });

  it("a second version or a delete marker on an entry's object, or a second journal under the prefix, is a finding (log verify exit 1)", async () => {
    const id = lines(w.journalDir)[0]!.hash;
    const key = (seq: number) => `legal/${id}/${String(seq).padStart(10, "0")}.json`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key(3), Body: readFileSync(path.join(w.journalDir, "internkontroll.jsonl"), "utf8").split("\n")[2] + "\n" }));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key(4) }));
    // A second journal started under the same prefix (another genesis).
    const other = "e".repeat(64);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `legal/${other}/0000000001.json`, Body: "{}\n" }));
    const v = await w.cli(["log", "verify"]);
    expect(v.code).toBe(1);
    // Taking the mirror out of the policy file does not switch the comparison off: the seal names it.
    const original = readFileSync(w.policyFile, "utf8");
    const edited = parse(original) as Record<string, unknown>;
    delete edited.journal;
    writeFileSync(w.policyFile, stringify(edited));
    try {
      const again = await w.cli(["log", "verify"]);
      expect(again.code).toBe(1);
      expect(again.stdout).toContain("entry #3: overwritten");
    } finally {
      writeFileSync(w.policyFile, original);
    }
    expect(v.stdout).toContain(`mirror: second-genesis: a second journal (genesis ${other.slice(0, 16)}…, 1 entries) lies under the same mirror prefix`);
    expect(v.stdout).toContain("entry #3: overwritten: entry #3 has 2 versions in the mirror");
    expect(v.stdout).toContain("entry #4: deleted: entry #4 has a delete marker in the mirror");
  });
});


describe("dropkeys init and the mirror bucket", () => {
  it("prints the bucket settings, and --create-mirror creates the bucket with Object Lock in COMPLIANCE mode", async () => {
    const dir = mkdtempSync(path.join(w.dir, "init-"));
    const other = `dk-init-${suffix()}`;
    const out = path.join(dir, "dropkeys.policy.yaml");
    let r = await runCli(["init", "--out", out, "--mirror", `s3://${other}/legal`], { env: cliAwsEnv, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`aws s3api create-bucket --bucket ${other} --region eu-north-1 --object-lock-enabled-for-bucket`);
    expect(r.stdout).toContain('"Mode":"COMPLIANCE","Days":1827');
    expect((parse(readFileSync(out, "utf8")) as { journal: unknown }).journal).toEqual({ mirror: `s3://${other}/legal`, retentionDays: 1827 });
    r = await runCli(["init", "--out", out, "--mirror", `s3://${other}/legal`, "--create-mirror", "--endpoint-url", motoUrl(), "--region", "eu-north-1"], { env: cliAwsEnv, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Kept ${out} as it is.`);
    expect(r.stdout).toContain(`Created ${other} with these settings.`);
    const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: other }));
    expect(lock.ObjectLockConfiguration).toMatchObject({ ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: 1827 } } });
  });
});
