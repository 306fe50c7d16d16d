// Rules 1-5 on normalised events: each fires on its positive case and stays quiet on its near
// miss. Thresholds, hours and the marked keys come from the policy.
import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import type { AuditScope, KeyInfo } from "../../src/lib/audit/keys.js";
import { normalize } from "../../src/lib/audit/normalize.js";
import { Auditor } from "../../src/lib/audit/rules.js";
import type { AuditEvent } from "../../src/lib/audit/types.js";
import { parsePolicy } from "../../src/lib/policy/load.js";
import type { KmsKeyEntry } from "../../src/lib/policy/schema.js";
import { kmsRecord, roleArn, type RecordOptions } from "./fixtures/cloudtrail.js";

const NATIONAL = "arn:aws:kms:eu-north-1:111122223333:key/11111111-1111-1111-1111-111111111111";
const DB = "arn:aws:kms:eu-north-1:111122223333:key/22222222-2222-2222-2222-222222222222";

const policy = parsePolicy(
  stringify({
    version: 1,
    roles: {
      "drop-app-runner": { principals: [roleArn("drop-app-runner")] },
      "drop-compliance-decrypt": { principals: [roleArn("drop-compliance-*")] },
      "drop-app-encrypt": { principals: [roleArn("drop-app-encrypt")] },
    },
    inventory: [
      { name: "drop-national-id-key", kind: "kms-key", rotation: "annual", decryptRoles: ["drop-compliance-decrypt", "drop-app-runner"], encryptRoles: ["drop-app-encrypt"], offHoursAlert: true },
      { name: "drop-db-master-key", kind: "kms-key", rotation: "annual", decryptRoles: ["drop-app-runner"] },
    ],
    businessHours: { timezone: "Europe/Oslo", days: [1, 2, 3, 4, 5], start: "08:00", end: "17:00" },
    alerts: { failedAttempts: { threshold: 3, window: "5m" } },
  }),
);

function scope(): AuditScope {
  const entry = (name: string) => policy.inventory.find((e) => e.name === name) as KmsKeyEntry;
  const keys = new Map<string, KeyInfo>([
    [NATIONAL, { arn: NATIONAL, region: "eu-north-1", entry: entry("drop-national-id-key"), label: "drop-national-id-key" }],
    [DB, { arn: DB, region: "eu-north-1", entry: entry("drop-db-master-key"), label: "drop-db-master-key" }],
  ]);
  return { keys, all: false, unresolved: [], regions: ["eu-north-1"], narrowed: false, aliases: {} };
}

function event(o: RecordOptions): AuditEvent {
  const n = normalize(kmsRecord(o));
  if (!("event" in n)) throw new Error("fixture did not normalise");
  return n.event;
}

function run(events: AuditEvent[]) {
  const auditor = new Auditor(scope(), policy);
  for (const e of events) auditor.add(e);
  return { auditor, findings: auditor.findings() };
}

const rule = (findings: ReturnType<typeof run>["findings"], n: number) => findings.filter((f) => f.rule === n);
// A weekday afternoon: no off-hours noise in the tests of other rules.
const at = (minute: number, second = 0) => new Date(Date.UTC(2026, 10, 18, 12, minute, second)).toISOString();

describe("rule 1: purpose binding", () => {
  it("fires (high) on a Decrypt by a role not allowed for the key, with the event ids as evidence", () => {
    const e = event({ time: at(0), keyArn: DB, role: "drop-batch-export" });
    const [f, ...rest] = rule(run([e]).findings, 1);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ severity: "high", key: "drop-db-master-key", keyArn: DB, principal: roleArn("drop-batch-export"), count: 1, evidence: [e.id] });
  });

  it("stays quiet for allowed roles, including a wildcard principal", () => {
    const { findings } = run([
      event({ time: at(1), keyArn: NATIONAL, role: "drop-app-runner" }),
      event({ time: at(2), keyArn: NATIONAL, role: "drop-compliance-decrypt" }),
    ]);
    expect(rule(findings, 1)).toEqual([]);
  });

  it("lets an encrypt-only role encrypt but not decrypt", () => {
    const { findings } = run([
      event({ time: at(1), keyArn: NATIONAL, role: "drop-app-encrypt", name: "GenerateDataKey" }),
      event({ time: at(2), keyArn: NATIONAL, role: "drop-app-encrypt", name: "Decrypt" }),
    ]);
    expect(rule(findings, 1).map((f) => [f.principal, f.operations])).toEqual([[roleArn("drop-app-encrypt"), ["Decrypt"]]]);
  });

  it("does not count failed calls as use, and ignores keys outside the scope", () => {
    const { findings } = run([
      event({ time: at(1), keyArn: DB, role: "drop-batch-export", errorCode: "AccessDenied" }),
      event({ time: at(2), keyArn: "arn:aws:kms:eu-north-1:111122223333:key/33333333-3333-3333-3333-333333333333", role: "drop-batch-export" }),
    ]);
    expect(rule(findings, 1)).toEqual([]);
  });
});

describe("rule 2: more than 3 failed attempts by one principal within 5 minutes", () => {
  const failures = (minutes: number[], role = "drop-intruder") => minutes.map((m) => event({ time: at(m), keyArn: NATIONAL, role, errorCode: "AccessDenied" }));

  it("stays quiet on 3 failures within 5 minutes", () => {
    expect(rule(run(failures([0, 1, 2])).findings, 2)).toEqual([]);
  });

  it("fires on 4 failures within 5 minutes", () => {
    const events = failures([0, 1, 3, 5]);
    const [f, ...rest] = rule(run(events).findings, 2);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ severity: "high", principal: roleArn("drop-intruder"), count: 4, key: "drop-national-id-key" });
    expect(f!.evidence).toEqual(events.map((e) => e.id));
    expect(f!.first).toBe(at(0));
    expect(f!.last).toBe(at(5));
  });

  it("stays quiet on 4 failures spread over 6 minutes", () => {
    expect(rule(run(failures([0, 2, 4, 6])).findings, 2)).toEqual([]);
  });

  it("slides: 4 within 5 minutes after an earlier lone failure still fires, once, and ignores failures by others", () => {
    const events = [...failures([0, 7, 8, 9, 11]), ...failures([8, 9], "drop-app-runner")];
    const bursts = rule(run(events).findings, 2);
    expect(bursts).toHaveLength(1);
    expect(bursts[0]).toMatchObject({ count: 4, first: at(7), last: at(11) });
  });

  it("counts a failure that names no key", () => {
    const keyless = [0, 1, 2, 3].map((m) => event({ time: at(m), keyArn: null, role: "drop-intruder", errorCode: "AccessDenied" }));
    expect(rule(run(keyless).findings, 2)).toMatchObject([{ key: "(unknown key)", count: 4 }]);
  });
});

describe("rule 3: marked keys outside business hours (Europe/Oslo, DST)", () => {
  const offHours = (iso: string, keyArn = NATIONAL) => rule(run([event({ time: iso, keyArn })]).findings, 3);

  // Summer time (CEST, UTC+2) until Sunday 25 October 2026, 03:00 local; winter time (CET, UTC+1) after.
  it.each([
    ["Friday 23 Oct (CEST) 07:59 local", "2026-10-23T05:59:00Z", true],
    ["Friday 23 Oct (CEST) 08:00 local", "2026-10-23T06:00:00Z", false],
    ["Monday 26 Oct (CET) 07:59 local", "2026-10-26T06:59:00Z", true],
    ["Monday 26 Oct (CET) 08:00 local", "2026-10-26T07:00:00Z", false],
    ["Saturday 24 Oct (CEST) 07:59 local", "2026-10-24T05:59:00Z", true],
    ["Saturday 24 Oct (CEST) 08:00 local", "2026-10-24T06:00:00Z", true],
    ["Saturday 31 Oct (CET) 08:00 local", "2026-10-31T07:00:00Z", true],
    ["Friday 27 Mar (CET) 08:00 local", "2026-03-27T07:00:00Z", false],
    ["Monday 30 Mar (CEST) 07:59 local", "2026-03-30T05:59:00Z", true],
    ["Monday 30 Mar (CEST) 08:00 local", "2026-03-30T06:00:00Z", false],
    ["Monday 26 Oct 16:59 local", "2026-10-26T15:59:00Z", false],
    ["Monday 26 Oct 17:00 local", "2026-10-26T16:00:00Z", true],
  ])("%s -> off-hours finding: %s", (_label, iso, fires) => {
    const found = offHours(iso);
    expect(found.length).toBe(fires ? 1 : 0);
    if (fires) expect(found[0]).toMatchObject({ severity: "medium", key: "drop-national-id-key" });
  });

  it("the same instant is off-hours in winter and not in summer (06:59Z is 08:59 CEST but 07:59 CET)", () => {
    expect(offHours("2026-10-23T06:59:00Z")).toHaveLength(0);
    expect(offHours("2026-10-26T06:59:00Z")).toHaveLength(1);
  });

  it("stays quiet for a key the policy does not mark", () => {
    expect(offHours("2026-10-24T03:00:00Z", DB)).toEqual([]);
  });
});

describe("rules 4 and 5: key management", () => {
  it("any ScheduleKeyDeletion is critical, one finding per event, failed ones too", () => {
    const a = event({ time: at(0), keyArn: DB, name: "ScheduleKeyDeletion", role: "drop-key-admin" });
    const b = event({ time: at(1), keyArn: DB, name: "ScheduleKeyDeletion", role: "drop-key-admin", errorCode: "AccessDeniedException" });
    const found = rule(run([a, b]).findings, 4);
    expect(found.map((f) => [f.severity, f.evidence])).toEqual([
      ["critical", [a.id]],
      ["critical", [b.id]],
    ]);
    expect(found[1]!.message).toMatch(/1 failed/);
  });

  it("DisableKey, PutKeyPolicy and CreateGrant are notable; CancelKeyDeletion and DescribeKey are not findings", () => {
    const names = ["DisableKey", "PutKeyPolicy", "CreateGrant", "CancelKeyDeletion", "DescribeKey"];
    const { findings, auditor } = run(names.map((name, i) => event({ time: at(i), keyArn: NATIONAL, name, role: "drop-key-admin" })));
    expect(rule(findings, 5).map((f) => [f.severity, f.operations[0]])).toEqual([
      ["notable", "DisableKey"],
      ["notable", "PutKeyPolicy"],
      ["notable", "CreateGrant"],
    ]);
    expect(rule(findings, 4)).toEqual([]);
    expect(auditor.counts.management).toBe(4);
  });
});

describe("summary and duplicates", () => {
  it("deduplicates by eventID and summarises uses per principal with first/last seen and failures", () => {
    const a = event({ time: at(0), keyArn: NATIONAL });
    const b = event({ time: at(9), keyArn: NATIONAL, name: "GenerateDataKey" });
    const c = event({ time: at(5), keyArn: NATIONAL, errorCode: "AccessDenied" });
    const { auditor } = run([a, b, a, c, b]);
    expect(auditor.counts).toMatchObject({ events: 3, duplicates: 2, uses: 2, failures: 1 });
    const national = auditor.summary().find((k) => k.key === "drop-national-id-key")!;
    expect(national).toMatchObject({ uses: 2, failures: 1, first: at(0), last: at(9) });
    expect(national.principals).toEqual([
      expect.objectContaining({ principal: roleArn("drop-app-runner"), uses: 2, failures: 1, operations: { Decrypt: 2, GenerateDataKey: 1 } }),
    ]);
    // A key with no events is listed too: silence is an answer.
    expect(auditor.summary().find((k) => k.key === "drop-db-master-key")).toMatchObject({ uses: 0, principals: [] });
  });
});

describe("EventIdSet", () => {
  it("remembers every id through growth and reports each second sighting", async () => {
    const { EventIdSet } = await import("../../src/lib/audit/dedupe.js");
    const { randomUUID } = await import("node:crypto");
    const set = new EventIdSet(16);
    const ids = Array.from({ length: 50_000 }, () => randomUUID());
    expect(ids.every((id) => set.add(id))).toBe(true);
    expect(ids.filter((id) => set.add(id))).toEqual([]);
    expect(set.size).toBe(50_000);
  });
});
