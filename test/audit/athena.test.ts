// --engine athena against moto's Athena: moto runs no SQL, so each statement's result rows are
// seeded (POST /moto-api/static/athena/query-results) and the call flow is what is tested: start,
// poll, read the results, rows -> findings -> exit code; a query cancelled in Athena meanwhile, and
// one that never finishes (held QUEUED through moto's state manager) is stopped at the timeout.
// moto cannot page GetQueryResults nor fail a query: for those two cases the SDK goes through
// test/support/athena-front.ts, which passes every call on to moto but pages the results as AWS
// does and answers FAILED for the query the test chooses.
import { AthenaClient, GetQueryExecutionCommand, ListQueryExecutionsCommand, StopQueryExecutionCommand } from "@aws-sdk/client-athena";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cliAwsEnv, motoUrl } from "../support/aws.js";
import { startAthenaFront } from "../support/athena-front.js";
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

const audit = (args: string[], journal: string, policyFile = policy) =>
  runCli(
    ["audit-decrypts", "--policy", policyFile, "--journal", path.join(dir, journal), "--engine", "athena", "--athena-table", "org_trail", "--athena-output", "s3://drop-athena-results/dropkeys/", "--all-keys", "--no-coverage", "--since", "2026-11-15T00:00:00Z", "--until", "2026-11-22T00:00:00Z", "--json", ...args],
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
  it("results longer than a page: every row of every page becomes a finding (NextToken followed to the end)", async () => {
    const front = await startAthenaFront(motoUrl());
    try {
      const frontPolicy = writePolicy(dir, { endpoints: { ...emulatorEndpoints(), athena: front.url }, inventory: [{ name: "ATHENA_SECRET", kind: "secret", rotation: "annual" }] }, "policy-front-paging.yaml");
      // dropkeys asks for 1000 rows a page (AWS's maximum); 2,345 rows + the header are three pages.
      const principals = Array.from({ length: 2345 }, (_, i) => `arn:aws:iam::111122223333:role/drop-burst-${String(i).padStart(4, "0")}`);
      await motoApi("/moto-api/static/athena/query-results", {
        account_id: "123456789012",
        region: "eu-north-1",
        results: [
          result(principals.map((p, i) => ["2", "high", null, p, "2026-11-18 12:10:00.000 UTC", "2026-11-18 12:16:00.000 UTC", "6", `[f${i}-a, f${i}-b]`])),
          result([["4", "critical", KEY, "arn:aws:iam::111122223333:role/drop-key-admin", "2026-11-18 13:01:00.000 UTC", "2026-11-18 13:01:00.000 UTC", "1", "[sched-1]"]]),
          result([]),
        ],
      });
      const r = await audit([], "legal-paging", frontPolicy);
      expect(r.code, r.stderr).toBe(4);
      const doc = JSON.parse(r.stdout) as { findings: { rule: number; principal: string; evidence: string[] }[]; sources: { detail: { queries: { rule: number; id: string; rows: number; pages: number }[] } }[] };
      const burst = doc.findings.filter((f) => f.rule === 2);
      expect(burst.map((f) => f.principal).sort()).toEqual(principals);
      expect(burst.find((f) => f.principal.endsWith("drop-burst-2344"))?.evidence).toEqual(["f2344-a", "f2344-b"]);
      // No header row read as a finding, nothing else invented.
      expect(doc.findings).toHaveLength(2346);
      const queries = doc.sources[0]!.detail.queries;
      expect(queries.map((q) => [q.rule, q.rows, q.pages])).toEqual([
        [2, 2345, 3],
        [4, 1, 1],
        [5, 0, 1],
      ]);
      expect(front.resultCalls.get(queries[0]!.id)).toBe(3);
    } finally {
      await front.close();
    }
  });

  it("a query that fails in Athena: exit 1 naming the rule's query and AWS's reason; no report, no finding reported clean, no journal entry", async () => {
    const reason = "COLUMN_NOT_FOUND: line 12:9: Column 'requestparameters' cannot be resolved or requester is not authorized to access requested resources";
    const front = await startAthenaFront(motoUrl(), { fail: (sql) => (sql.includes("SELECT 4 AS rule") ? reason : undefined) });
    try {
      const frontPolicy = writePolicy(dir, { endpoints: { ...emulatorEndpoints(), athena: front.url }, inventory: [{ name: "ATHENA_SECRET", kind: "secret", rotation: "annual" }] }, "policy-front-failed.yaml");
      // Rule 2's query succeeds with a finding; rule 4's fails (its seeded result is never readable).
      await motoApi("/moto-api/static/athena/query-results", {
        account_id: "123456789012",
        region: "eu-north-1",
        results: [result([["2", "high", null, "arn:aws:iam::111122223333:role/drop-intruder", "2026-11-18 12:10:00.000 UTC", "2026-11-18 12:16:00.000 UTC", "7", "[fail-0]"]]), result([])],
      });
      const before = new Set((await athena().send(new ListQueryExecutionsCommand({}))).QueryExecutionIds ?? []);
      const r = await audit([], "legal-failed", frontPolicy);
      expect(r.code, r.stderr).toBe(1);
      const started = ((await athena().send(new ListQueryExecutionsCommand({}))).QueryExecutionIds ?? []).filter((id) => !before.has(id));
      // Rule 2's and rule 4's queries ran; rule 5's was never started after the failure.
      expect(started).toHaveLength(2);
      const queries = await Promise.all(started.map((id) => athena().send(new GetQueryExecutionCommand({ QueryExecutionId: id }))));
      const failedId = queries.find((q) => q.QueryExecution?.Query?.includes("SELECT 4 AS rule"))?.QueryExecution?.QueryExecutionId;
      expect(failedId).toBeDefined();
      expect(r.stderr).toContain(`rule 4's query ${failedId} failed: ${reason}`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      // Nothing reported: neither "no findings" nor the half of the rules that did run.
      expect(r.stdout).not.toMatch(/"findings"|drop-intruder/);
      const journalFile = path.join(dir, "legal-failed", "internkontroll.jsonl");
      const entries = existsSync(journalFile) ? readFileSync(journalFile, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { operation?: string; outcome?: string }) : [];
      expect(entries.filter((e) => e.operation === "audit-decrypts" && e.outcome !== "failed")).toEqual([]);
    } finally {
      await front.close();
    }
  });
});
