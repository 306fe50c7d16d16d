// The printed Athena SQL, executed: `--print-sql` over the test archive's scope is run on DuckDB
// (sqlglot transpiles Trino to DuckDB; the CloudTrail table is a view over the archive's trail
// files) and must give the CLI's findings for every rule, with the default scope and with
// --all-keys: record shapes of every caller type, ReEncrypt forms, keys named only by alias,
// unresolvable aliases, keyless failures, failures on keys outside the scope, ties within a
// second, a delivery repeated, digest and Insights files beside the logs.
import { CreateAliasCommand, CreateKeyCommand } from "@aws-sdk/client-kms";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installSqlTools } from "../../scripts/aws-emulators.mjs";
import { cliAwsEnv, kmsClient } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { suffix, writePolicy } from "../support/policy.js";
import { ACCOUNT, roleArn } from "./fixtures/cloudtrail.js";
import { callers, insightRecord, params, shape, type ShapeOptions } from "./fixtures/shapes.js";

const s = suffix();
const NATIONAL = `sql-national-${s}`;
const DB = `sql-db-${s}`;
const FOREIGN = `arn:aws:kms:eu-north-1:${ACCOUNT}:key/99999999-9999-9999-9999-999999999999`;
let dir: string;
let policy: string;
let archive: string;
let python: string;
const arn: Record<string, string> = {};

async function createKey(name: string): Promise<string> {
  const kms = kmsClient("eu-north-1");
  const key = await kms.send(new CreateKeyCommand({ Description: name }));
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.KeyMetadata!.KeyId! }));
  return key.KeyMetadata!.Arn!;
}

function put(file: string, records: unknown[]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, gzipSync(JSON.stringify({ Records: records })));
}

beforeAll(async () => {
  python = installSqlTools();
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-audit-sql-"));
  arn[NATIONAL] = await createKey(NATIONAL);
  arn[DB] = await createKey(DB);
  policy = writePolicy(dir, {
    roles: {
      "drop-app-runner": { principals: [roleArn("drop-app-runner")] },
      "drop-app-encrypt": { principals: [roleArn("drop-app-encrypt")] },
      "drop-break-glass": { principals: [`arn:aws:iam::${ACCOUNT}:root`, `arn:aws:iam::${ACCOUNT}:user/Ali*`] },
      "drop-key-admin": { principals: [roleArn("drop-key-admin")] },
    },
    inventory: [
      { name: NATIONAL, kind: "kms-key", rotation: "annual", decryptRoles: ["drop-app-runner", "drop-break-glass"], encryptRoles: ["drop-app-encrypt"], offHoursAlert: true },
      { name: DB, kind: "kms-key", rotation: "annual", decryptRoles: ["drop-app-runner"] },
    ],
  });
  const N = arn[NATIONAL]!;
  const D = arn[DB]!;
  const nId = N.split("/").pop()!;
  const dId = D.split("/").pop()!;
  // Wednesday 18 November 2026, 13:00 Oslo: business hours; Saturday 21st: not.
  const wed = (hhmmss: string) => `2026-11-18T${hhmmss}Z`;
  const rec = (o: Partial<ShapeOptions> & { name: string; time: string }) => shape({ identity: callers.assumedRole(), params: params.decrypt(), ...o });
  const runner = callers.assumedRole("drop-app-runner");
  const encryptOnly = callers.assumedRole("drop-app-encrypt");
  const intruder = callers.assumedRole("drop-intruder");
  const logs = (name: string) => path.join(archive, "AWSLogs", ACCOUNT, "CloudTrail", "eu-north-1", "2026", "11", name.slice(0, 2), `${ACCOUNT}_CloudTrail_eu-north-1_202611${name}_abcdefabcdefabcd.json.gz`);
  archive = path.join(dir, "archive");
  const first = [
    rec({ name: "Decrypt", time: wed("12:00:00"), identity: runner, resources: [N] }),
    rec({ name: "Decrypt", time: wed("12:00:01"), identity: callers.awsAccount(), resources: [N], recipient: ACCOUNT }),
    rec({ name: "Decrypt", time: wed("12:00:02"), identity: callers.assumedRole("drop-batch-export"), params: { ...params.decrypt(), keyId: `alias/${DB}` } }),
    rec({ name: "Decrypt", time: wed("12:00:03"), identity: callers.root(), resources: [N] }),
    rec({ name: "Decrypt", time: wed("12:00:04"), identity: callers.iamUser("Alice"), resources: [N] }),
    rec({ name: "Decrypt", time: wed("12:00:05"), identity: callers.federatedUser("Bob"), resources: [N] }),
    rec({ name: "GenerateDataKey", time: wed("12:00:06"), identity: callers.awsService("s3.amazonaws.com"), params: params.generateDataKey(N), resources: [N] }),
    rec({ name: "Encrypt", time: wed("12:00:07"), identity: encryptOnly, params: params.encrypt(`alias/${NATIONAL}`), resources: [N] }),
    rec({ name: "Sign", time: wed("12:00:08"), identity: callers.assumedRole("drop-signer"), params: params.sign(D), resources: [D] }),
    // ReEncrypt forms, all by a role that may only encrypt under NATIONAL.
    rec({ name: "ReEncrypt", time: wed("12:01:00"), identity: encryptOnly, params: params.reEncrypt(N), resources: [D, N] }),
    rec({ name: "ReEncrypt", time: wed("12:01:01"), identity: encryptOnly, params: params.reEncrypt(`alias/${NATIONAL}`), resources: [N, D] }),
    rec({ name: "ReEncrypt", time: wed("12:01:02"), identity: encryptOnly, params: params.reEncrypt(D, `alias/${NATIONAL}`), resources: [N, D] }),
    rec({ name: "ReEncrypt", time: wed("12:01:03"), identity: encryptOnly, params: params.reEncrypt(nId, dId), resources: [D, N] }),
    rec({ name: "ReEncrypt", time: wed("12:01:04"), identity: encryptOnly, params: params.reEncrypt(`alias/${NATIONAL}`, dId), resources: null }),
    rec({ name: "ReEncrypt", time: wed("12:01:05"), identity: encryptOnly, params: params.reEncrypt(N), resources: null }),
    rec({ name: "ReEncrypt", time: wed("12:01:06"), identity: encryptOnly, params: params.reEncrypt(N), resources: [N] }),
    // Failures: a burst with ties in one second, then an adjacent window, then a lone one.
    ...["12:10:00", "12:10:00", "12:10:00", "12:11:00", "12:13:00", "12:15:30", "12:16:00", "12:40:00"].map((t, i) =>
      rec({ name: "Decrypt", time: wed(t), identity: intruder, resources: [N], errorCode: "AccessDeniedException", id: `fail-${i}` }),
    ),
    // Failures on a key outside the inventory: rule 2 only with --all-keys.
    ...["12:20:00", "12:20:10", "12:20:20", "12:20:30"].map((t) => rec({ name: "Decrypt", time: wed(t), identity: callers.assumedRole("drop-prober"), resources: [FOREIGN], errorCode: "AccessDeniedException" })),
    // Keyless failures: no resources, no keyId.
    ...["12:30:00", "12:30:10", "12:30:20", "12:30:30"].map((t) => rec({ name: "Decrypt", time: wed(t), identity: callers.assumedRole("drop-guesser"), resources: null, errorCode: "InvalidCiphertextException" })),
    // Failures on an alias nobody knows: unresolved; rule 2 only with --all-keys.
    ...["12:35:00", "12:35:10", "12:35:20", "12:35:30"].map((t) => rec({ name: "Decrypt", time: wed(t), identity: callers.assumedRole("drop-aliaser"), params: { ...params.decrypt(), keyId: "alias/not-ours" }, resources: null, errorCode: "NotFoundException" })),
    rec({ name: "Decrypt", time: wed("12:36:00"), identity: runner, params: { ...params.decrypt(), keyId: "alias/not-ours" }, resources: null }),
    rec({ name: "ScheduleKeyDeletion", time: wed("13:00:00"), identity: intruder, params: params.scheduleKeyDeletion(`alias/${DB}`), resources: null, errorCode: "AccessDeniedException" }),
    rec({ name: "ScheduleKeyDeletion", time: wed("13:01:00"), identity: callers.assumedRole("drop-key-admin"), params: params.scheduleKeyDeletion(N), resources: [N] }),
    rec({ name: "DisableKey", time: wed("13:02:00"), identity: callers.assumedRole("drop-key-admin"), params: params.disableKey(dId), resources: [D] }),
    rec({ name: "CreateGrant", time: wed("13:03:00"), identity: callers.assumedRole("drop-key-admin"), params: { keyId: D }, resources: [D] }),
    rec({ name: "CreateGrant", time: wed("13:04:00"), identity: callers.assumedRole("drop-key-admin"), params: { keyId: D }, resources: [D] }),
    rec({ name: "DisableKey", time: wed("13:05:00"), identity: callers.assumedRole("drop-key-admin"), params: params.disableKey(FOREIGN), resources: [FOREIGN] }),
    insightRecord(wed("12:30:00")),
  ];
  put(logs("18T1305Z"), first);
  // The same file delivered a second time.
  put(logs("18T1310Z"), first);
  put(logs("21T1005Z"), [
    rec({ name: "Decrypt", time: "2026-11-21T10:00:00Z", identity: runner, resources: [N] }),
    rec({ name: "GenerateDataKey", time: "2026-11-21T10:01:00Z", identity: runner, params: params.generateDataKey(`alias/${NATIONAL}`) }),
  ]);
  put(path.join(archive, "AWSLogs", ACCOUNT, "CloudTrail-Digest", "eu-north-1", "2026", "11", "18", `${ACCOUNT}_CloudTrail-Digest_eu-north-1_t_eu-north-1_20261118T130000Z.json.gz`), []);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Row {
  rule: number;
  key_arn: string | null;
  principal: string;
  first_seen: string;
  last_seen: string;
  events: number;
  evidence: string[];
}
interface Finding {
  rule: number;
  key: string;
  keyArn?: string;
  principal: string;
  first: string;
  last: string;
  count: number;
  evidence: string[];
}

const window = ["--since", "2026-11-15T00:00:00Z", "--until", "2026-11-22T00:00:00Z"];
const sorted = (rows: Row[]) => [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

async function compare(extra: string[], journal: string): Promise<{ cli: Row[]; sql: Row[] }> {
  const run = await runCli(["audit-decrypts", "--policy", policy, "--journal", path.join(dir, journal), "--source", archive, ...window, "--no-coverage", "--json", "--fail-on", "none", ...extra], { cwd: dir, env: cliAwsEnv });
  expect(run.code, run.stderr).toBe(0);
  const findings = (JSON.parse(run.stdout) as { findings: Finding[] }).findings;
  const cli = findings.map((f) => ({
    rule: f.rule,
    key_arn: f.keyArn ?? (f.key.includes(", ") ? null : f.key),
    principal: f.principal,
    first_seen: f.first,
    last_seen: f.last,
    events: f.count,
    evidence: f.evidence,
  }));
  const printed = await runCli(["audit-decrypts", "--policy", policy, "--journal", path.join(dir, journal), ...window, "--print-sql", ...extra], { cwd: dir, env: cliAwsEnv });
  expect(printed.code, printed.stderr).toBe(0);
  const script = path.join(dir, `${journal}.sql`);
  writeFileSync(script, printed.stdout);
  const r = spawnSync(python, [path.resolve("test/audit/support/run_athena_sql.py"), script, path.join(archive, "AWSLogs", "*", "CloudTrail", "**", "*.json.gz")], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  const sql = (JSON.parse(r.stdout) as (Row & { severity: string })[]).map(({ severity: _severity, ...row }) => ({ ...row, events: Number(row.events) }));
  return { cli: sorted(cli), sql: sorted(sql) };
}

describe("--print-sql, executed on DuckDB over the same records, agrees with the CLI", () => {
  it("inventory scope: every rule, row for row", async () => {
    const { cli, sql } = await compare([], "legal-scope");
    for (const rule of [1, 2, 3, 4, 5]) expect(sql.filter((r) => r.rule === rule), `rule ${rule}`).toEqual(cli.filter((r) => r.rule === rule));
    // The cases the issue names are in the answer, not just equal on both sides.
    const rule1 = cli.filter((r) => r.rule === 1).map((r) => r.principal);
    expect(rule1).toEqual(expect.arrayContaining([`AWSAccount:444455556666`, `arn:aws:iam::${ACCOUNT}:user/Bob`, roleArn("drop-batch-export"), roleArn("drop-app-encrypt")]));
    expect(rule1).not.toContain(`arn:aws:iam::${ACCOUNT}:root`);
    const bursts = cli.filter((r) => r.rule === 2);
    expect(bursts.find((r) => r.principal === roleArn("drop-intruder"))).toMatchObject({ events: 7, evidence: ["fail-0", "fail-1", "fail-2", "fail-3", "fail-4", "fail-5", "fail-6"] });
    expect(bursts.map((r) => r.principal)).not.toContain(roleArn("drop-prober"));
    expect(bursts.find((r) => r.principal === roleArn("drop-guesser"))).toMatchObject({ key_arn: "(unknown key)", events: 4 });
    expect(cli.filter((r) => r.rule === 4).map((r) => [r.key_arn, r.principal])).toEqual(expect.arrayContaining([[arn[DB], roleArn("drop-intruder")]]));
    expect(cli.filter((r) => r.rule === 3)).toHaveLength(1);
  });

  it("--all-keys: keys outside the inventory and unresolvable aliases too", async () => {
    const { cli, sql } = await compare(["--all-keys"], "legal-all");
    for (const rule of [1, 2, 3, 4, 5]) expect(sql.filter((r) => r.rule === rule), `rule ${rule}`).toEqual(cli.filter((r) => r.rule === rule));
    const bursts = cli.filter((r) => r.rule === 2).map((r) => [r.principal, r.key_arn]);
    expect(bursts).toEqual(expect.arrayContaining([[roleArn("drop-prober"), FOREIGN], [roleArn("drop-aliaser"), "alias/not-ours (unresolved)"]]));
    expect(cli.filter((r) => r.rule === 5).map((r) => r.key_arn)).toContain(FOREIGN);
  });
});
