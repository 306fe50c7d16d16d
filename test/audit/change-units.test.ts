// The pieces of audit-changes that need no AWS: which CloudTrail records are changes (and of what),
// the scanner keeping them in the same pass as KMS events, matching against journal claims, and
// the journal source (mirror preferred, local compared).
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { changeRecord, identityFor } from "../../scripts/cloudtrail-synth.mjs";
import { claimsOf, explains, type ChangeSubject } from "../../src/lib/audit/change-match.js";
import { parseChange } from "../../src/lib/audit/changes.js";
import { readCloudTrail } from "../../src/lib/audit/scan.js";
import type { JournalEntry } from "../../src/lib/journal/journal.js";
import { chooseJournalSource, compareWithMirror, type JournalSource } from "../../src/lib/journal/source.js";
import { versionTokenFor } from "../../src/lib/jwt/rotation.js";

const KEY = "arn:aws:kms:eu-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const SECRET = "arn:aws:secretsmanager:eu-north-1:123456789012:secret:JWT_SECRET-AbCdEf";
const admin = identityFor("arn:aws:sts::123456789012:assumed-role/drop-key-admin/alice");

function change(record: Record<string, unknown>) {
  const parsed = parseChange(record);
  if (!("change" in parsed)) throw new Error(`not a change: ${JSON.stringify(parsed)}`);
  return parsed.change;
}

describe("parseChange", () => {
  it("names the key, the alias's key, the secret (without the ARN suffix) and the role behind a session", () => {
    expect(change(changeRecord({ name: "DisableKey", time: "2026-12-01T10:00:00Z", identity: admin, keyArn: KEY }))).toMatchObject({
      name: "DisableKey",
      service: "kms",
      keys: [KEY],
      actor: "arn:aws:iam::123456789012:role/drop-key-admin",
      session: "arn:aws:sts::123456789012:assumed-role/drop-key-admin/alice",
    });
    expect(change(changeRecord({ name: "UpdateAlias", time: "2026-12-01T10:00:00Z", identity: admin, keyArn: KEY, aliasName: "drop-kyc-key" }))).toMatchObject({ aliases: ["drop-kyc-key"], keys: [KEY] });
    const put = change(changeRecord({ name: "PutSecretValue", time: "2026-12-01T10:00:00Z", identity: identityFor("arn:aws:iam::123456789012:user/bob"), secretArn: SECRET, params: { clientRequestToken: "tok-1" } }));
    expect(put).toMatchObject({ service: "secretsmanager", secrets: ["JWT_SECRET"], token: "tok-1", actor: "arn:aws:iam::123456789012:user/bob", identityType: "IAMUser" });
  });

  it("reads are not changes; tag calls count only on dropkeys: tags; AWS acting itself is invokedBy", () => {
    const decrypt = { ...changeRecord({ name: "Decrypt", time: "2026-12-01T10:00:00Z", identity: admin, keyArn: KEY }), readOnly: true };
    expect(parseChange(decrypt)).toEqual({ skip: true });
    expect(parseChange({ ...changeRecord({ name: "DescribeKey", time: "2026-12-01T10:00:00Z", identity: admin, keyArn: KEY }), readOnly: true })).toEqual({ skip: true });
    expect(parseChange(changeRecord({ name: "TagResource", time: "2026-12-01T10:00:00Z", identity: admin, secretArn: SECRET, params: { tags: [{ key: "team", value: "x" }] } }))).toEqual({ skip: true });
    expect(change(changeRecord({ name: "TagResource", time: "2026-12-01T10:00:00Z", identity: admin, secretArn: SECRET, params: { tags: [{ key: "dropkeys:overlap-ends", value: "x" }] } })).name).toBe("TagResource");
    const rotation = change(changeRecord({ name: "RotateKey", time: "2026-12-01T10:00:00Z", identity: { type: "AWSService", invokedBy: "kms.amazonaws.com" }, keyArn: KEY, eventType: "AwsServiceEvent" }));
    expect(rotation.invokedBy).toBe("kms.amazonaws.com");
  });

  it("the scanner keeps Secrets Manager changes next to KMS events in one pass, only with ScanFilter.changes", async () => {
    const records = [
      changeRecord({ name: "PutSecretValue", time: "2026-12-01T10:00:00Z", identity: admin, secretArn: SECRET, params: { clientRequestToken: "t" } }),
      changeRecord({ name: "DisableKey", time: "2026-12-01T10:01:00Z", identity: admin, keyArn: KEY }),
    ];
    const body = gzipSync(JSON.stringify({ Records: records }));
    const filter = { since: Date.parse("2026-12-01T00:00:00Z"), until: Date.parse("2026-12-02T00:00:00Z"), keys: null, keepKeyless: true };
    const plain = await readCloudTrail(Readable.from([body]), { name: "f", gzip: true, filter });
    expect(plain.changes).toBeUndefined();
    expect(plain.events.map((e) => e.name)).toEqual(["DisableKey"]);
    const both = await readCloudTrail(Readable.from([body]), { name: "f", gzip: true, filter: { ...filter, changes: true } });
    expect(both.changes?.map((c) => c.name)).toEqual(["PutSecretValue", "DisableKey"]);
    expect(both.events.map((e) => e.name)).toEqual(["DisableKey"]);
  });
});

const actor = { aws: "arn:aws:iam::123456789012:user/moto", osUser: "t", host: "h" };
function entry(seq: number, time: string, extra: Partial<JournalEntry>): JournalEntry {
  return { seq, time, prev: "", hash: String(seq), type: "intent", operation: "x", actor, ...extra } as JournalEntry;
}

describe("matching a change to a journal claim", () => {
  const intent = entry(1, "2026-12-01T10:00:00Z", { operation: "rotate-jwt", requestId: "req-1", target: { name: "JWT_SECRET", arn: SECRET, kind: "secret" }, approvals: [{ approver: "alem", role: "security-lead", signer: "ssh", fingerprint: "f", signature: "s" }] });
  const outcome = entry(2, "2026-12-01T10:00:05Z", { type: "outcome", operation: "rotate-jwt", requestId: "req-1", intentSeq: 1, outcome: "succeeded", target: { name: "JWT_SECRET", arn: SECRET, kind: "secret" } });
  const [claim] = claimsOf([intent, outcome]);
  const subject: ChangeSubject = { name: "JWT_SECRET", kind: "secret" };
  const put = (time: string, token: string) => change(changeRecord({ name: "PutSecretValue", time, identity: admin, secretArn: SECRET, params: { clientRequestToken: token } }));

  it("same operation, target and token inside intent..outcome +- skew", () => {
    expect(claim!.approvers).toEqual(["alem"]);
    expect(explains(claim!, put("2026-12-01T10:00:02Z", versionTokenFor("req-1")), subject, 300_000)).toBe(true);
    expect(explains(claim!, put("2026-12-01T10:04:59Z", versionTokenFor("req-1")), subject, 300_000)).toBe(true);
  });

  it("an attacker replaying the window: another token, outside the skew, another secret or another call is not explained", () => {
    expect(explains(claim!, put("2026-12-01T10:00:02Z", "someone-elses-token"), subject, 300_000)).toBe(false);
    expect(explains(claim!, put("2026-12-01T10:05:06Z", versionTokenFor("req-1")), subject, 300_000)).toBe(false);
    expect(explains(claim!, put("2026-12-01T10:00:02Z", versionTokenFor("req-1")), { name: "OTHER", kind: "secret" }, 300_000)).toBe(false);
    const del = change(changeRecord({ name: "DeleteSecret", time: "2026-12-01T10:00:02Z", identity: admin, secretArn: SECRET }));
    expect(explains(claim!, del, subject, 300_000)).toBe(false);
  });
});

describe("journal source", () => {
  const local: JournalSource = { kind: "local", location: "legal", entries: () => Promise.resolve([]) };
  const mirror: JournalSource = { kind: "mirror", location: "s3://mirror", entries: () => Promise.resolve([]) };
  it("the mirror by default where there is one; local on request; mirror without one is a usage error", () => {
    expect(chooseJournalSource(undefined, local, mirror)).toBe(mirror);
    expect(chooseJournalSource(undefined, local, undefined)).toBe(local);
    expect(chooseJournalSource("local", local, mirror)).toBe(local);
    expect(() => chooseJournalSource("mirror", local, undefined)).toThrow(/configures no journal mirror/);
  });

  it("a local entry written to explain a change away shows against the mirror", () => {
    const a = entry(1, "2026-12-01T10:00:00Z", { hash: "aaa" });
    const forged = entry(2, "2026-12-01T10:00:01Z", { operation: "disable", requestId: "forged", hash: "bbb" });
    expect(compareWithMirror([a], [a, forged])).toEqual(["entry 2 (intent disable forged) is only in the local journal"]);
    expect(compareWithMirror([a], [{ ...a, hash: "ccc" }])[0]).toMatch(/^entry 1 differs/);
  });
});
