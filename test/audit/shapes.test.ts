// Every record shape AWS documents for the KMS calls the audit reads, through normalisation and
// the rules: which principal, which key (resources[], then keyId / sourceKeyId / destinationKeyId
// as ARN, key id or alias), which side of a ReEncrypt reads plaintext; what cannot be resolved is
// counted, never dropped; a duplicate is the same eventID, eventTime and eventName.
import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import type { AuditScope, KeyInfo } from "../../src/lib/audit/keys.js";
import { inScope, normalize } from "../../src/lib/audit/normalize.js";
import { Auditor } from "../../src/lib/audit/rules.js";
import type { AuditEvent, ScanFilter } from "../../src/lib/audit/types.js";
import { parsePolicy } from "../../src/lib/policy/load.js";
import type { KmsKeyEntry } from "../../src/lib/policy/schema.js";
import { ACCOUNT, roleArn } from "./fixtures/cloudtrail.js";
import { callers, insightRecord, OTHER_ACCOUNT, params, shape, type ShapeOptions } from "./fixtures/shapes.js";

const ID = { national: "11111111-1111-1111-1111-111111111111", db: "22222222-2222-2222-2222-222222222222", earlier: "33333333-3333-3333-3333-333333333333", foreign: "44444444-4444-4444-4444-444444444444" };
const arn = (id: string, account = ACCOUNT) => `arn:aws:kms:eu-north-1:${account}:key/${id}`;
const NATIONAL = arn(ID.national);
const DB = arn(ID.db);
const EARLIER = arn(ID.earlier);
const FOREIGN = arn(ID.foreign, OTHER_ACCOUNT);
const MOVED = Date.parse("2026-11-15T00:00:00Z");

const policy = parsePolicy(
  stringify({
    version: 1,
    roles: {
      "drop-app-runner": { principals: [roleArn("drop-app-runner")] },
      "drop-app-encrypt": { principals: [roleArn("drop-app-encrypt")] },
      "drop-break-glass": { principals: [`arn:aws:iam::${ACCOUNT}:root`, `arn:aws:iam::${ACCOUNT}:user/Alice`] },
    },
    inventory: [
      { name: "drop-national-id-key", kind: "kms-key", rotation: "annual", decryptRoles: ["drop-app-runner", "drop-break-glass"], encryptRoles: ["drop-app-encrypt"] },
      { name: "drop-db-master-key", kind: "kms-key", rotation: "annual", decryptRoles: ["drop-app-runner"] },
    ],
  }),
);
const entry = (name: string) => policy.inventory.find((e) => e.name === name) as KmsKeyEntry;
// The alias drop-national-id-key named EARLIER until MOVED (generate --move-alias), NATIONAL since.
const aliases: ScanFilter["aliases"] = {
  "drop-national-id-key": [
    { arn: EARLIER, from: 0 },
    { arn: NATIONAL, from: MOVED },
  ],
  "drop-db-master-key": [{ arn: DB, from: 0 }],
};

function scope(all = false): AuditScope {
  const keys = new Map<string, KeyInfo>([
    [NATIONAL, { arn: NATIONAL, region: "eu-north-1", entry: entry("drop-national-id-key"), label: "drop-national-id-key" }],
    [EARLIER, { arn: EARLIER, region: "eu-north-1", entry: entry("drop-national-id-key"), label: "drop-national-id-key (earlier key)" }],
    [DB, { arn: DB, region: "eu-north-1", entry: entry("drop-db-master-key"), label: "drop-db-master-key" }],
  ]);
  return { keys, all, unresolved: [], regions: ["eu-north-1"], narrowed: false, aliases: aliases! };
}
const filter = (all = false): ScanFilter => ({ since: 0, until: Date.parse("2100-01-01"), keys: all ? null : [...scope().keys.keys()], keepKeyless: true, aliases });

// A weekday afternoon, after the alias moved.
const at = (minute: number) => new Date(Date.UTC(2026, 10, 18, 12, minute)).toISOString();

function ev(o: ShapeOptions): AuditEvent {
  const n = normalize(shape(o), { aliases });
  if (!("event" in n)) throw new Error(`did not normalise: ${JSON.stringify(n)}`);
  return n.event;
}

function audit(events: AuditEvent[], all = false) {
  const auditor = new Auditor(scope(all), policy);
  const f = filter(all);
  const keySet = f.keys ? new Set(f.keys) : null;
  for (const e of events) if (inScope(e, f, keySet)) auditor.add(e);
  return { auditor, findings: auditor.findings(), summary: auditor.summary() };
}

describe("callers: the principal of each userIdentity type", () => {
  const cases: [string, Record<string, unknown>, string, string | undefined][] = [
    ["IAMUser", callers.iamUser(), `arn:aws:iam::${ACCOUNT}:user/Alice`, undefined],
    ["AssumedRole: the role behind the session", callers.assumedRole(), roleArn("drop-app-runner"), undefined],
    ["AssumedRole invoked by S3 on its behalf", callers.assumedRole("drop-app-runner", "s3.amazonaws.com"), roleArn("drop-app-runner"), "s3.amazonaws.com"],
    ["FederatedUser: the IAM user behind it", callers.federatedUser(), `arn:aws:iam::${ACCOUNT}:user/Bob`, undefined],
    ["Root", callers.root(), `arn:aws:iam::${ACCOUNT}:root`, undefined],
    ["AWSAccount (cross-account): the calling account", callers.awsAccount(), `AWSAccount:${OTHER_ACCOUNT}`, undefined],
    ["AWSService", callers.awsService(), "service:cloudtrail.amazonaws.com", undefined],
  ];
  it.each(cases)("%s", (_label, identity, principal, via) => {
    const e = ev({ name: "Decrypt", time: at(0), identity, params: params.decrypt(), resources: [NATIONAL] });
    expect([e.principal, e.via, e.keys]).toEqual([principal, via, [NATIONAL]]);
  });

  it("rule 1 holds every caller type to the key's roles: root and Alice may, a cross-account caller and Bob may not; a service acting as itself is not bound", () => {
    const decrypt = (identity: Record<string, unknown>) => ev({ name: "Decrypt", time: at(1), identity, params: params.decrypt(), resources: [NATIONAL] });
    const { findings } = audit([callers.iamUser(), callers.root(), callers.federatedUser(), callers.awsAccount(), callers.awsService(), callers.assumedRole("drop-app-runner", "s3.amazonaws.com")].map(decrypt));
    expect(findings.filter((f) => f.rule === 1).map((f) => f.principal)).toEqual([`AWSAccount:${OTHER_ACCOUNT}`, `arn:aws:iam::${ACCOUNT}:user/Bob`]);
  });
});

describe("operations: the key each documented request shape names", () => {
  const runner = callers.assumedRole();
  it.each([
    ["Decrypt (key from resources[])", "Decrypt", params.decrypt(), [NATIONAL]],
    ["Encrypt with keyId alias/NAME", "Encrypt", params.encrypt("alias/drop-national-id-key"), [NATIONAL]],
    ["GenerateDataKey with a key id", "GenerateDataKey", params.generateDataKey(ID.national), [NATIONAL]],
    ["GenerateDataKeyWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", params.generateDataKey(NATIONAL), [NATIONAL]],
    ["GenerateDataKeyPair", "GenerateDataKeyPair", { ...params.generateDataKey(NATIONAL), keyPairSpec: "RSA_2048" }, [NATIONAL]],
    ["Sign", "Sign", params.sign(DB), [DB]],
    ["ScheduleKeyDeletion", "ScheduleKeyDeletion", params.scheduleKeyDeletion(DB), [DB]],
    ["DisableKey", "DisableKey", params.disableKey(ID.db), [DB]],
  ])("%s", (_label, name, p, keys) => {
    expect(ev({ name, time: at(2), identity: runner, params: p, resources: keys }).keys).toEqual(keys);
  });

  it("without resources[]: keyId as ARN, bare key id (caller's account and region), alias name and alias ARN, at the record's time", () => {
    const noResources = (keyId: string, time = at(3)) => ev({ name: "Decrypt", time, identity: runner, params: { ...params.decrypt(), keyId } }).keys;
    expect(noResources(DB)).toEqual([DB]);
    expect(noResources(ID.db)).toEqual([DB]);
    expect(noResources("alias/drop-national-id-key")).toEqual([NATIONAL]);
    expect(noResources(`arn:aws:kms:eu-north-1:${ACCOUNT}:alias/drop-national-id-key`)).toEqual([NATIONAL]);
    // Before the alias moved it named the earlier key.
    expect(noResources("alias/drop-national-id-key", "2026-11-10T12:00:00Z")).toEqual([EARLIER]);
  });

  it("a Decrypt by alias of an inventory key with no resources[] is counted on that key (it used to vanish)", () => {
    const e = ev({ name: "Decrypt", time: at(4), identity: callers.assumedRole("drop-batch-export"), params: { ...params.decrypt(), keyId: "alias/drop-db-master-key" } });
    const { summary, findings } = audit([e]);
    expect(summary.find((k) => k.arn === DB)!.uses).toBe(1);
    expect(findings.map((f) => [f.rule, f.keyArn, f.evidence])).toEqual([[1, DB, [e.id]]]);
  });

  it("a failed ScheduleKeyDeletion on an alias, without resources[], is rule 4 on that key", () => {
    const e = ev({ name: "ScheduleKeyDeletion", time: at(5), identity: callers.assumedRole("drop-intruder"), params: params.scheduleKeyDeletion("alias/drop-db-master-key"), errorCode: "AccessDeniedException" });
    expect(audit([e]).findings.map((f) => [f.rule, f.severity, f.keyArn])).toEqual([[4, "critical", DB]]);
  });
});

describe("ReEncrypt: only the source side reads plaintext", () => {
  const encryptOnly = callers.assumedRole("drop-app-encrypt");
  // drop-app-encrypt may encrypt under NATIONAL but not decrypt; the source DB is not its key at all.
  const reencrypt = (p: Record<string, unknown>, resources: string[] | null, identity = encryptOnly) => ev({ name: "ReEncrypt", time: at(6), identity, params: p, resources });
  const forms: [string, Record<string, unknown>, string[] | null][] = [
    ["no sourceKeyId (AWS's usual record): the source is the resource that is not the destination", params.reEncrypt(NATIONAL), [DB, NATIONAL]],
    ["no sourceKeyId, destination named by alias, resources in the other order", params.reEncrypt("alias/drop-national-id-key"), [NATIONAL, DB]],
    ["sourceKeyId as ARN", params.reEncrypt(NATIONAL, DB), [DB, NATIONAL]],
    ["sourceKeyId as alias", params.reEncrypt(NATIONAL, "alias/drop-db-master-key"), [NATIONAL, DB]],
    ["sourceKeyId as bare key id", params.reEncrypt(ID.national, ID.db), [NATIONAL, DB]],
    ["no resources[]: both keys from the parameters", params.reEncrypt("alias/drop-national-id-key", ID.db), null],
  ];
  it.each(forms)("%s", (_label, p, resources) => {
    const e = reencrypt(p, resources);
    expect(e.sourceKey).toBe(DB);
    expect(new Set(e.keys)).toEqual(new Set([DB, NATIONAL]));
    const rule1 = audit([e]).findings.filter((f) => f.rule === 1);
    // Reading under DB is not allowed to this role; writing under NATIONAL is (encryptRoles): one finding, on DB.
    expect(rule1.map((f) => f.keyArn)).toEqual([DB]);
  });

  it("re-encrypting under the same key (one resource) reads it: an encrypt-only role is flagged", () => {
    const e = reencrypt(params.reEncrypt(NATIONAL), [NATIONAL]);
    expect(e.sourceKey).toBe(NATIONAL);
    expect(audit([e]).findings.filter((f) => f.rule === 1).map((f) => f.keyArn)).toEqual([NATIONAL]);
  });

  it("a source KMS does not name (no resources[], no sourceKeyId): the destination is written, not read; the source is counted as unresolved", () => {
    const e = reencrypt(params.reEncrypt(NATIONAL), null);
    expect([e.keys, e.sourceKey, e.unresolvedKey]).toEqual([[NATIONAL], undefined, "(ReEncrypt source key not named)"]);
    const { findings, auditor } = audit([e]);
    expect(findings.filter((f) => f.rule === 1)).toEqual([]);
    expect(auditor.counts.unresolved).toBe(1);
  });
});

describe("a key that cannot be resolved is counted, and listed under --all-keys", () => {
  const unknownAlias = () => ev({ name: "Decrypt", time: at(7), identity: callers.assumedRole(), params: { ...params.decrypt(), keyId: "alias/someone-elses-key" } });

  it("default scope: counted as unresolved (the report says so), not on any key", () => {
    const e = unknownAlias();
    expect([e.keys, e.unresolvedKey]).toEqual([[], "alias/someone-elses-key"]);
    const { auditor, summary } = audit([e]);
    expect(auditor.counts).toMatchObject({ events: 1, unresolved: 1, uses: 1 });
    expect(summary.map((k) => k.key)).not.toContain("alias/someone-elses-key (unresolved)");
  });

  it("--all-keys: listed under its reference", () => {
    const e = unknownAlias();
    const { summary, auditor } = audit([e], true);
    expect(summary.find((k) => k.key === "alias/someone-elses-key (unresolved)")).toMatchObject({ uses: 1 });
    expect(auditor.keysOf(e)).toEqual(["alias/someone-elses-key (unresolved)"]);
  });

  it("a cross-account key ARN in resources[] is resolved as it is (under --all-keys)", () => {
    const e = ev({ name: "Decrypt", time: at(8), identity: callers.assumedRole(), params: params.decrypt(), resources: [FOREIGN] });
    expect(audit([e], true).summary.find((k) => k.arn === FOREIGN)).toMatchObject({ uses: 1 });
  });
});

describe("duplicates", () => {
  const base = { name: "Decrypt", identity: callers.assumedRole("drop-batch-export"), params: params.decrypt(), resources: [DB] };

  it("the same record delivered twice counts once", () => {
    const record = shape({ ...base, time: at(9), id: "dup-1" });
    const twice = [record, structuredClone(record)].map((r) => (normalize(r, { aliases }) as { event: AuditEvent }).event);
    const { auditor, findings } = audit(twice);
    expect(auditor.counts).toMatchObject({ events: 1, duplicates: 1 });
    expect(findings[0]).toMatchObject({ count: 1, evidence: ["dup-1"] });
  });

  it("records that share only an eventID are different records: both count, firstSeen is the earlier", () => {
    const a = ev({ ...base, time: at(10), id: "shared" });
    const b = ev({ ...base, time: at(20), id: "shared" });
    const c = ev({ ...base, name: "Encrypt", params: params.encrypt(DB), time: at(10), id: "shared" });
    for (const order of [[a, b, c], [c, b, a]]) {
      const { auditor, findings } = audit(order);
      expect(auditor.counts).toMatchObject({ events: 3, duplicates: 0 });
      expect(findings[0]).toMatchObject({ first: at(10), last: at(20), count: 3 });
    }
  });

  it("evidence is the earliest events by time and id, whatever order they arrive in", () => {
    const events = Array.from({ length: 80 }, (_, i) => ev({ ...base, time: at(i % 60), id: `e-${String(i).padStart(3, "0")}` }));
    const forward = audit(events).findings[0]!;
    const backward = audit([...events].reverse()).findings[0]!;
    expect(backward.evidence).toEqual(forward.evidence);
    expect(forward.evidence).toHaveLength(50);
    expect(forward.evidence.slice(0, 3)).toEqual(["e-000", "e-060", "e-001"]);
  });
});

it("a CloudTrail Insights record is not a KMS event (nor a malformed one)", () => {
  expect(normalize(insightRecord(at(0)))).toEqual({ skip: "not-kms" });
});
