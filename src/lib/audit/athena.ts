// `--engine athena`: the rules' statements (sql.ts) run by Athena, for archives one machine cannot
// read. Each statement: StartQueryExecution, GetQueryExecution polled with backoff until it
// succeeds, fails, is cancelled or runs out of time (then it is stopped), GetQueryResults page by
// page; the rows become the same findings the local engine reports.
import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type AthenaClient,
  type Row,
} from "@aws-sdk/client-athena";
import { awsErrorName, failure } from "../errors.js";
import { RULE_NAMES } from "./rules.js";
import type { RuleStatement } from "./sql.js";
import type { Finding, Severity } from "./types.js";

export interface AthenaOptions {
  workgroup: string;
  /** s3://BUCKET/PREFIX for the query results. */
  output?: string | undefined;
  database: string;
  timeoutMs: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface AthenaStats {
  queries: { rule: number; id: string; rows: number; pages: number; dataScannedBytes?: number }[];
}

/** A row of a rule's statement, as the SQL answers it. */
export interface RuleRow {
  rule: number;
  severity: Severity;
  keyArn: string | null;
  principal: string;
  first: string;
  last: string;
  events: number;
  evidence: string[];
}

export async function runOnAthena(client: AthenaClient, statements: RuleStatement[], options: AthenaOptions): Promise<{ rows: RuleRow[]; stats: AthenaStats }> {
  const rows: RuleRow[] = [];
  const stats: AthenaStats = { queries: [] };
  for (const s of statements) {
    if (!s.sql) continue;
    const q = await runQuery(client, s, options);
    rows.push(...q.rows);
    stats.queries.push({ rule: s.rule, id: q.id, rows: q.rows.length, pages: q.pages, ...(q.scanned !== undefined ? { dataScannedBytes: q.scanned } : {}) });
  }
  return { rows, stats };
}

async function runQuery(client: AthenaClient, statement: RuleStatement, options: AthenaOptions): Promise<{ id: string; rows: RuleRow[]; pages: number; scanned?: number }> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  const what = `rule ${statement.rule}'s query`;
  const started = await call(`StartQueryExecution (${what})`, () =>
    client.send(
      new StartQueryExecutionCommand({
        QueryString: statement.sql!,
        WorkGroup: options.workgroup,
        QueryExecutionContext: { Database: options.database },
        ...(options.output ? { ResultConfiguration: { OutputLocation: options.output } } : {}),
      }),
    ),
  );
  const id = started.QueryExecutionId!;
  const deadline = now() + options.timeoutMs;
  // Backoff: 250 ms, doubling, at most 5 s between polls.
  let wait = 250;
  let scanned: number | undefined;
  for (;;) {
    const out = await call(`GetQueryExecution ${id}`, () => client.send(new GetQueryExecutionCommand({ QueryExecutionId: id })));
    const state = out.QueryExecution?.Status?.State;
    scanned = out.QueryExecution?.Statistics?.DataScannedInBytes;
    if (state === "SUCCEEDED") break;
    if (state === "FAILED" || state === "CANCELLED") {
      const reason = out.QueryExecution?.Status?.StateChangeReason;
      throw failure(`Athena ${what} ${id} ${state === "FAILED" ? "failed" : "was cancelled"}${reason ? `: ${reason}` : ""}`, {
        code: "audit.athena",
        hint: state === "FAILED" ? "Check the table (--athena-table), database and workgroup; --print-sql shows the statement." : "Someone stopped the query in Athena; run the audit again.",
      });
    }
    if (now() >= deadline) {
      await client.send(new StopQueryExecutionCommand({ QueryExecutionId: id })).catch(() => undefined);
      throw failure(`Athena ${what} ${id} did not finish within ${Math.round(options.timeoutMs / 1000)} s; it was stopped`, {
        code: "audit.athena-timeout",
        hint: "Narrow --since/--until or partition the table; --athena-timeout allows longer.",
      });
    }
    await sleep(Math.min(wait, Math.max(0, deadline - now())));
    wait = Math.min(wait * 2, 5000);
  }
  const rows: RuleRow[] = [];
  let token: string | undefined;
  let pages = 0;
  let header: string[] | undefined;
  do {
    const page = await call(`GetQueryResults ${id}`, () => client.send(new GetQueryResultsCommand({ QueryExecutionId: id, MaxResults: 1000, ...(token ? { NextToken: token } : {}) })));
    pages++;
    const names = page.ResultSet?.ResultSetMetadata?.ColumnInfo?.map((c) => c.Name ?? "") ?? [];
    let list = page.ResultSet?.Rows ?? [];
    // The first page of a SELECT starts with the column names as a row.
    if (!header) {
      header = names.length ? names : (list[0]?.Data ?? []).map((d) => d.VarCharValue ?? "");
      if (list[0] && (list[0].Data ?? []).map((d) => d.VarCharValue ?? "").join("\u0000") === header.join("\u0000")) list = list.slice(1);
    }
    for (const row of list) rows.push(toRuleRow(header, row));
    token = page.NextToken;
  } while (token);
  return { id, rows, pages, ...(scanned !== undefined ? { scanned } : {}) };
}

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const name = awsErrorName(error);
    throw failure(`Athena ${what} failed: ${name ?? "error"}: ${(error as Error).message}`, {
      code: "audit.athena",
      hint: "The audit needs athena:StartQueryExecution, GetQueryExecution, GetQueryResults and StopQueryExecution, s3 access to --athena-output, and glue read access to the table.",
      cause: error,
    });
  }
}

/** Athena's text forms: timestamps "2026-11-18 12:00:00.000 UTC", arrays "[a, b]". */
function toRuleRow(header: string[], row: Row): RuleRow {
  const cell = (name: string) => row.Data?.[header.indexOf(name)]?.VarCharValue;
  const time = (text: string | undefined) => (text ? new Date(text.replace(" UTC", "Z").replace(" ", "T")).toISOString() : "");
  const list = cell("evidence") ?? "[]";
  return {
    rule: Number(cell("rule")),
    severity: (cell("severity") ?? "high") as Severity,
    keyArn: cell("key_arn") ?? null,
    principal: cell("principal") ?? "unknown",
    first: time(cell("first_seen")),
    last: time(cell("last_seen")),
    events: Number(cell("events") ?? 0),
    evidence: list
      .replace(/^\[|\]$/g, "")
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  };
}

/** A row as the local engine's finding: the same fields, key names from the scope. */
export function findingOf(row: RuleRow, label: (arn: string) => string): Finding {
  const rule = row.rule as Finding["rule"];
  const key = row.keyArn ? label(row.keyArn) : "(several keys)";
  const count = `${row.events} event${row.events === 1 ? "" : "s"}`;
  const message =
    rule === 1
      ? `${row.principal} used ${key} ${count}; the policy does not allow it for this key`
      : rule === 2
        ? `${row.events} failed KMS calls by ${row.principal} in a burst`
        : rule === 3
          ? `${count} of ${key} by ${row.principal} outside business hours`
          : rule === 4
            ? `ScheduleKeyDeletion on ${key} by ${row.principal}`
            : `key disabled, key policy changed or grant created on ${key} by ${row.principal}: ${count}`;
  return {
    rule,
    ruleName: RULE_NAMES[rule],
    severity: row.severity,
    key,
    ...(row.keyArn?.startsWith("arn:") ? { keyArn: row.keyArn } : {}),
    principal: row.principal,
    first: row.first,
    last: row.last,
    count: row.events,
    operations: rule === 4 ? ["ScheduleKeyDeletion"] : [],
    message,
    evidence: row.evidence,
    evidenceTotal: row.events,
  };
}
