// --engine athena against moto's Athena: moto runs no SQL, so each statement's result rows are
// seeded (POST /moto-api/static/athena/query-results) and the call flow is what is tested: start,
// poll, read the results, rows -> findings -> exit code; a query cancelled in Athena meanwhile, and
// one that never finishes (held QUEUED through moto's state manager) is stopped at the timeout.
// moto cannot page GetQueryResults nor fail a query, so those two cases are not tested here.
import { AthenaClient, GetQueryExecutionCommand, ListQueryExecutionsCommand, StopQueryExecutionCommand } from "@aws-sdk/client-athena";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cliAwsEnv, motoUrl } from "../support/aws.js";
import { runCli } from "../support/cli.js";
import { emulatorEndpoints, writePolicy } from "../support/policy.js";

let dir: string;
let policy: string;
const athena = () => new AthenaClient({ region: "eu-north-1", endpoint: motoUrl(), credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
const COLUMNS = ["rule", "severity", "key_arn", "principal", "first_seen", "last_seen", "events", "evidence"];
const KEY = "arn:aws:kms:eu-north-1:111122223333:key/55555555-5555-5555-5555-555555555555";

/** One statement's result as Athena answers it: a header row, then the rows as text. */
const result = (rows: (string | null)[][]) => ({
  rows: [COLUMNS, ...rows].map((r) => ({ Data: r.map((v) => (v === null ? {} : { VarCharValue: v })) })),
  column_info: COLUMNS.map((name) => ({ Name: name, Label: name, Type: "varchar", CatalogName: "hive", SchemaName: "", TableName: "", Nullable: "UNKNOWN", CaseSensitive: true, Precision: 0, Scale: 0 })),
});

async function motoApi(pathname: string, body: unknown): Promise<void> {
  const res = await fetch(`${motoUrl()}${pathname}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  expect(res.status).toBeLessThan(300);
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-audit-athena-"));
  policy = writePolicy(dir, { endpoints: { ...emulatorEndpoints(), athena: motoUrl() }, inventory: [{ name: "ATHENA_SECRET", kind: "secret", rotation: "annual" }] });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => motoApi("/moto-api/state-manager/unset-transition", { model_name: "athena::execution" }));

const audit = (args: string[], journal: string) =>
  runCli(
    ["audit-decrypts", "--policy", policy, "--journal", path.join(dir, journal), "--engine", "athena", "--athena-table", "org_trail", "--athena-output", "s3://drop-athena-results/dropkeys/", "--all-keys", "--no-coverage", "--since", "2026-11-15T00:00:00Z", "--until", "2026-11-22T00:00:00Z", "--json", ...args],
    { cwd: dir, env: cliAwsEnv },
  );

describe("--engine athena (moto)", () => {
  it("runs each rule's statement, reads its rows and reports them as findings with the local engine's exit code", async () => {
    // --all-keys and no KMS key in the inventory: rules 2, 4 and 5 have statements (1 and 3 check inventory keys).
    await motoApi("/moto-api/static/athena/query-results", {
      account_id: "123456789012",
      region: "eu-north-1",
      results: [
        result([["2", "high", null, "arn:aws:iam::111122223333:role/drop-intruder", "2026-11-18 12:10:00.000 UTC", "2026-11-18 12:16:00.000 UTC", "7", "[fail-0, fail-1, fail-2, fail-3, fail-4, fail-5, fail-6]"]]),
        result([["4", "critical", KEY, "arn:aws:iam::111122223333:role/drop-key-admin", "2026-11-18 13:01:00.000 UTC", "2026-11-18 13:01:00.000 UTC", "1", "[sched-1]"]]),
        result([]),
      ],
    });
    const r = await audit([], "legal-ok");
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as { findings: { rule: number; severity: string; keyArn?: string; principal: string; first: string; count: number; evidence: string[] }[]; sources: { kind: string; detail: { queries: { rule: number; rows: number }[] } }[] };
    expect(doc.findings.map((f) => [f.rule, f.severity, f.keyArn ?? null, f.principal, f.first, f.count, f.evidence])).toEqual([
      [4, "critical", KEY, "arn:aws:iam::111122223333:role/drop-key-admin", "2026-11-18T13:01:00.000Z", 1, ["sched-1"]],
      [2, "high", null, "arn:aws:iam::111122223333:role/drop-intruder", "2026-11-18T12:10:00.000Z", 7, ["fail-0", "fail-1", "fail-2", "fail-3", "fail-4", "fail-5", "fail-6"]],
    ]);
    expect(doc.sources[0]).toMatchObject({ kind: "athena" });
    expect(doc.sources[0]!.detail.queries.map((q) => [q.rule, q.rows])).toEqual([
      [2, 1],
      [4, 1],
      [5, 0],
    ]);
    // What ran is the printed SQL, over the table named.
    const ids = (await athena().send(new ListQueryExecutionsCommand({}))).QueryExecutionIds ?? [];
    const queries = await Promise.all(ids.map((id) => athena().send(new GetQueryExecutionCommand({ QueryExecutionId: id }))));
    expect(queries.some((q) => q.QueryExecution?.Query?.includes("FROM org_trail") && q.QueryExecution.WorkGroup === "primary")).toBe(true);
  });

  it("a query that does not finish within --athena-timeout is stopped: exit 1 naming it, and Athena shows it cancelled", async () => {
    await motoApi("/moto-api/state-manager/set-transition", { model_name: "athena::execution", transition: { progression: "time", seconds: 3600 } });
    const before = new Set((await athena().send(new ListQueryExecutionsCommand({}))).QueryExecutionIds ?? []);
    const r = await audit(["--athena-timeout", "2s"], "legal-timeout");
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/rule 2's query .* did not finish within 2 s; it was stopped/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const started = ((await athena().send(new ListQueryExecutionsCommand({}))).QueryExecutionIds ?? []).filter((id) => !before.has(id));
    expect(started).toHaveLength(1);
    const state = await athena().send(new GetQueryExecutionCommand({ QueryExecutionId: started[0] }));
    expect(state.QueryExecution?.Status?.State).toBe("CANCELLED");
  });

  it("a query cancelled in Athena while dropkeys waits: exit 1, saying so", async () => {
    await motoApi("/moto-api/state-manager/set-transition", { model_name: "athena::execution", transition: { progression: "time", seconds: 3600 } });
    const before = new Set((await athena().send(new ListQueryExecutionsCommand({}))).QueryExecutionIds ?? []);
    const running = audit(["--athena-timeout", "60s"], "legal-cancel");
    // Someone stops the query in the console meanwhile.
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++) {
      await new Promise((r) => setTimeout(r, 100));
      id = ((await athena().send(new ListQueryExecutionsCommand({}))).QueryExecutionIds ?? []).find((x) => !before.has(x));
    }
    expect(id).toBeDefined();
    await athena().send(new StopQueryExecutionCommand({ QueryExecutionId: id }));
    const r = await running;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`rule 2's query ${id} was cancelled`));
  });
});
