// `--print-sql`: the same scope and rules 1-5 as Athena (Trino) SQL over the standard CloudTrail
// table (the one AWS's documentation creates: useridentity STRUCT<...>, requestparameters STRING,
// resources ARRAY<STRUCT<arn, accountid, type>>), so an organisation-wide audit runs on that engine
// instead of one machine. Each statement answers the columns rule, severity, key_arn, principal,
// first_seen, last_seen, events, evidence (event ids), with the CLI's semantics: the same key
// resolution (resources[], then keyId / sourceKeyId / destinationKeyId as ARN, key id or alias at
// the event's time), the same principal, duplicates by eventID + eventTime + eventName, the same
// scope, the same evidence (the 50 earliest by time, then id). test/audit/sql.test.ts runs this very
// SQL on DuckDB over the test archive and compares it with the CLI, rule by rule.
import type { Policy } from "../policy/schema.js";
import type { AuditScope } from "./keys.js";
import { EVIDENCE_CAP, type RuleSettings, UNKNOWN_KEY } from "./rules.js";

const USE_REGEX = "^(Decrypt|Encrypt|GenerateDataKey\\w*|ReEncrypt\\w*|Sign)$";
const KEY_ARN = "^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$";
const KEY_ID = "^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$";
const ALIAS = "^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:)?alias/(.+)$";
export const SQL_COLUMNS = ["rule", "severity", "key_arn", "principal", "first_seen", "last_seen", "events", "evidence"] as const;

const q = (s: string) => `'${s.replaceAll("'", "''")}'`;
const ts = (ms: number) => `from_iso8601_timestamp(${q(new Date(ms).toISOString())})`;
/** A policy principal pattern ("*" globs) as the regular expression the CLI uses. */
const globRegex = (glob: string) => `^${glob.split("*").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`;
const nonEmpty = (expr: string) => `NULLIF(${expr}, '')`;

export interface SqlOptions {
  table: string;
  since: Date;
  until: Date;
}

/** One statement per rule, in rule order; `null` where the rule has nothing to check in this scope. */
export interface RuleStatement {
  rule: 1 | 2 | 3 | 4 | 5;
  title: string;
  sql: string | null;
  skipped?: string;
}

const PRINCIPAL = `CASE
        WHEN ${nonEmpty("useridentity.sessioncontext.sessionissuer.arn")} IS NOT NULL THEN useridentity.sessioncontext.sessionissuer.arn
        WHEN ${nonEmpty("useridentity.arn")} IS NOT NULL THEN useridentity.arn
        WHEN useridentity.type = 'AWSAccount' AND ${nonEmpty("useridentity.accountid")} IS NOT NULL THEN 'AWSAccount:' || useridentity.accountid
        WHEN useridentity.type = 'AWSService' OR ${nonEmpty("useridentity.invokedby")} IS NOT NULL
          THEN 'service:' || COALESCE(${nonEmpty("useridentity.invokedby")}, ${nonEmpty("sourceipaddress")}, 'unknown')
        WHEN ${nonEmpty("useridentity.principalid")} IS NOT NULL THEN COALESCE(${nonEmpty("useridentity.type")}, 'unknown') || ':' || useridentity.principalid
        ELSE 'unknown'
      END`;

/** A key reference (ARN, key id, alias name or alias ARN) -> key ARN; `alias` is the joined alias row. */
function resolveRef(ref: string, alias: string): string {
  const partition = "CASE WHEN awsregion LIKE 'cn-%' THEN 'aws-cn' WHEN awsregion LIKE 'us-gov-%' THEN 'aws-us-gov' ELSE 'aws' END";
  return `CASE
        WHEN ${ref} IS NULL THEN NULL
        WHEN regexp_like(${ref}, ${q(KEY_ARN)}) THEN ${ref}
        WHEN regexp_like(${ref}, ${q(KEY_ID)}) THEN CASE WHEN regexp_like(caller_account, '^[0-9]{12}$')
          THEN 'arn:' || ${partition} || ':kms:' || awsregion || ':' || caller_account || ':key/' || ${ref} END
        ELSE ${alias}.key_arn
      END`;
}

export function athenaStatements(policy: Policy, scope: AuditScope, settings: RuleSettings, options: SqlOptions): RuleStatement[] {
  const arns = [...scope.keys.keys()];
  const arrayOf = (xs: string[]) => (xs.length ? `ARRAY[${xs.map(q).join(", ")}]` : "CAST(ARRAY[] AS ARRAY(varchar))");
  // The alias timeline: alias/NAME named each key from `from` until the next one took over.
  const aliasRows: string[] = [];
  for (const [name, targets] of Object.entries(scope.aliases)) {
    targets.forEach((t, i) => {
      const from = i === 0 ? 0 : t.from;
      const to = targets[i + 1]?.from ?? Date.parse("9999-12-31T00:00:00Z");
      aliasRows.push(`(${q(name)}, ${q(t.arn)}, ${ts(from)}, ${ts(to)})`);
    });
  }
  if (aliasRows.length === 0) aliasRows.push(`('', '', ${ts(0)}, ${ts(0)})`);
  // keys keep resources[]'s order (the ReEncrypt source is found by position); rule_keys are distinct.
  const inScopeKeys = scope.all ? "array_distinct(keys)" : `array_distinct(filter(keys, k -> contains(${arrayOf(arns)}, k)))`;
  const unresolvedKeys = scope.all ? "ARRAY[unresolved || ' (unresolved)']" : "CAST(ARRAY[] AS ARRAY(varchar))";
  const keyless = scope.narrowed ? "" : `\n        WHEN cardinality(keys) = 0 AND errorcode IS NOT NULL THEN ARRAY[${q(UNKNOWN_KEY)}]`;

  // Every statement starts from the same events: KMS records of the window, one per eventID +
  // eventTime + eventName, their keys resolved, the ReEncrypt source side, and `rule_keys`: the
  // keys each rule sees (as the CLI's Auditor.keysOf).
  const events = `WITH aliases (alias_name, key_arn, valid_from, valid_until) AS (VALUES
  ${aliasRows.join(",\n  ")}
),
records AS (
  SELECT eventid, eventname, ${nonEmpty("errorcode")} AS errorcode, from_iso8601_timestamp(eventtime) AS ts,
      ${PRINCIPAL} AS principal,
      useridentity.arn AS session_arn,
      awsregion,
      COALESCE(${nonEmpty("useridentity.accountid")}, recipientaccountid, '') AS caller_account,
      filter(transform(COALESCE(resources, ARRAY[]), r -> r.arn), a -> regexp_like(COALESCE(a, ''), ${q(KEY_ARN)})) AS res_keys,
      ${nonEmpty("json_extract_scalar(requestparameters, '$.keyId')")} AS key_id,
      CASE WHEN eventname LIKE 'ReEncrypt%' THEN ${nonEmpty("json_extract_scalar(requestparameters, '$.sourceKeyId')")} END AS source_key_id,
      CASE WHEN eventname LIKE 'ReEncrypt%' THEN ${nonEmpty("json_extract_scalar(requestparameters, '$.destinationKeyId')")} END AS destination_key_id,
      row_number() OVER (PARTITION BY eventid, eventtime, eventname ORDER BY eventid) AS copy
  FROM ${options.table}
  WHERE eventsource = 'kms.amazonaws.com'
    AND COALESCE(eventtype, '') <> 'AwsCloudTrailInsight'
    AND eventid IS NOT NULL AND eventname IS NOT NULL AND useridentity IS NOT NULL
    AND from_iso8601_timestamp(eventtime) BETWEEN ${ts(options.since.getTime())} AND ${ts(options.until.getTime())}
),
resolved AS (
  SELECT r.*,
      ${resolveRef("r.key_id", "a1")} AS key_id_arn,
      ${resolveRef("r.source_key_id", "a2")} AS source_arn,
      ${resolveRef("r.destination_key_id", "a3")} AS destination_arn
  FROM records r
  LEFT JOIN aliases a1 ON a1.alias_name = regexp_extract(r.key_id, ${q(ALIAS)}, 1) AND r.ts >= a1.valid_from AND r.ts < a1.valid_until
  LEFT JOIN aliases a2 ON a2.alias_name = regexp_extract(r.source_key_id, ${q(ALIAS)}, 1) AND r.ts >= a2.valid_from AND r.ts < a2.valid_until
  LEFT JOIN aliases a3 ON a3.alias_name = regexp_extract(r.destination_key_id, ${q(ALIAS)}, 1) AND r.ts >= a3.valid_from AND r.ts < a3.valid_until
  WHERE r.copy = 1
),
keyed AS (
  SELECT r.*,
      CASE WHEN cardinality(res_keys) > 0 THEN res_keys
        ELSE filter(ARRAY[key_id_arn, source_arn, destination_arn], x -> x IS NOT NULL) END AS keys,
      CASE WHEN cardinality(res_keys) > 0 THEN NULL
        WHEN key_id IS NOT NULL AND key_id_arn IS NULL THEN key_id
        WHEN source_key_id IS NOT NULL AND source_arn IS NULL THEN source_key_id
        WHEN destination_key_id IS NOT NULL AND destination_arn IS NULL THEN destination_key_id END AS unresolved_ref
  FROM resolved r
),
sided AS (
  SELECT k.*,
      CASE WHEN eventname LIKE 'ReEncrypt%' THEN CASE
        WHEN source_arn IS NOT NULL AND contains(keys, source_arn) THEN source_arn
        WHEN cardinality(array_distinct(keys)) = 2 THEN CASE WHEN destination_arn = keys[1] THEN keys[2] ELSE keys[1] END
        WHEN cardinality(array_distinct(keys)) = 1 AND cardinality(res_keys) > 0 THEN keys[1] END END AS source_key
  FROM keyed k
),
scoped AS (
  SELECT s.*,
      concat(${inScopeKeys}, CASE
        WHEN unresolved IS NOT NULL THEN ${unresolvedKeys}${keyless}
        ELSE CAST(ARRAY[] AS ARRAY(varchar)) END) AS rule_keys
  FROM (SELECT sided.*, COALESCE(unresolved_ref, CASE WHEN eventname LIKE 'ReEncrypt%' AND source_key IS NULL
          THEN COALESCE(source_key_id, '(ReEncrypt source key not named)') END) AS unresolved FROM sided) s
),
flat AS (
  SELECT scoped.*, u.key_arn FROM scoped CROSS JOIN UNNEST(rule_keys) AS u(key_arn)
)`;
  const evidence = (alias = "") => `slice(array_agg(${alias}eventid ORDER BY ${alias}ts, ${alias}eventid), 1, ${EVIDENCE_CAP}) AS evidence`;
  const columns = (rule: number, severity: string, alias = "") =>
    `SELECT ${rule} AS rule, '${severity}' AS severity, ${alias}key_arn, ${alias}principal, min(${alias}ts) AS first_seen, max(${alias}ts) AS last_seen, count(*) AS events, ${evidence(alias)}`;
  const out: RuleStatement[] = [];

  const allowedRows: string[] = [];
  for (const info of scope.keys.values()) {
    if (!info.entry) continue;
    const add = (roles: string[], decrypt: boolean) => {
      for (const role of roles) for (const p of policy.roles[role]?.principals ?? []) allowedRows.push(`(${q(info.arn)}, ${q(globRegex(p))}, ${decrypt})`);
    };
    add(info.entry.decryptRoles, true);
    add(info.entry.encryptRoles, false);
  }
  const rule1 = "use of a key by a principal the policy does not allow for it (decryptRoles; encrypting also encryptRoles)";
  if (allowedRows.length === 0) out.push({ rule: 1, title: rule1, sql: null, skipped: "no key in scope has roles with principals in the policy" });
  else
    out.push({
      rule: 1,
      title: rule1,
      sql: `${events},
allowed (key_arn, pattern, may_decrypt) AS (VALUES
  ${allowedRows.join(",\n  ")}
)
${columns(1, "high", "f.")}
FROM flat f
WHERE f.errorcode IS NULL
  AND regexp_like(f.eventname, ${q(USE_REGEX)})
  AND f.principal NOT LIKE 'service:%'
  AND f.key_arn IN (SELECT key_arn FROM allowed)
  AND NOT EXISTS (
    SELECT 1 FROM allowed a
    WHERE a.key_arn = f.key_arn
      AND (regexp_like(f.principal, a.pattern) OR regexp_like(COALESCE(f.session_arn, ''), a.pattern))
      AND (a.may_decrypt OR NOT (f.eventname = 'Decrypt' OR (f.eventname LIKE 'ReEncrypt%' AND COALESCE(f.source_key = f.key_arn, false))))
  )
GROUP BY f.key_arn, f.principal`,
    });

  const window = settings.failedWindowMs / 1000;
  out.push({
    rule: 2,
    title: `more than ${settings.failedThreshold} failed KMS calls by one principal within ${window} s (sliding window; the burst's events are every failure of its windows)`,
    sql: `${events},
failures AS (
  SELECT eventid, ts, principal, rule_keys, to_unixtime(ts) AS t, row_number() OVER (PARTITION BY principal ORDER BY ts, eventid) AS rn
  FROM scoped
  WHERE errorcode IS NOT NULL AND cardinality(rule_keys) > 0
),
counted AS (
  SELECT f.principal, f.rn, f.t, count(*) AS in_window
  FROM failures f JOIN failures g ON g.principal = f.principal AND g.rn <= f.rn AND f.t - g.t <= ${window}
  GROUP BY f.principal, f.rn, f.t
),
covered AS (
  SELECT DISTINCT e.principal, e.rn
  FROM failures e JOIN counted c ON c.principal = e.principal AND c.in_window > ${settings.failedThreshold} AND e.rn <= c.rn AND c.t - e.t <= ${window}
),
bursts AS (
  SELECT f.*, f.rn - row_number() OVER (PARTITION BY f.principal ORDER BY f.rn) AS burst
  FROM failures f JOIN covered c ON c.principal = f.principal AND c.rn = f.rn
)
SELECT 2 AS rule, 'high' AS severity,
    CASE WHEN cardinality(array_distinct(flatten(array_agg(rule_keys)))) = 1 THEN array_distinct(flatten(array_agg(rule_keys)))[1] END AS key_arn,
    principal, min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS events, ${evidence()}
FROM bursts
GROUP BY principal, burst`,
  });

  const marked = [...scope.keys.values()].filter((k) => k.entry?.offHoursAlert).map((k) => k.arn);
  const local = (f: string) => `${f}(ts AT TIME ZONE ${q(settings.timezone)})`;
  const rule3 = `use of the marked keys outside business hours (${settings.timezone}, ISO days ${settings.days.join(",")}, ${hhmm(settings.startMinutes)}-${hhmm(settings.endMinutes)})`;
  if (marked.length === 0) out.push({ rule: 3, title: rule3, sql: null, skipped: "no key in scope is marked offHoursAlert (or none resolved to an ARN)" });
  else
    out.push({
      rule: 3,
      title: rule3,
      sql: `${events}
${columns(3, "medium")}
FROM flat
WHERE errorcode IS NULL
  AND regexp_like(eventname, ${q(USE_REGEX)})
  AND key_arn IN (${marked.map(q).join(", ")})
  AND NOT (${local("day_of_week")} IN (${settings.days.join(", ")})
           AND ${local("hour")} * 60 + ${local("minute")} >= ${settings.startMinutes}
           AND ${local("hour")} * 60 + ${local("minute")} < ${settings.endMinutes})
GROUP BY key_arn, principal`,
    });

  out.push({
    rule: 4,
    title: "any ScheduleKeyDeletion (failed ones too), one row per event",
    sql: `${events}
${columns(4, "critical")}
FROM flat
WHERE eventname = 'ScheduleKeyDeletion'
GROUP BY key_arn, principal, eventid`,
  });
  out.push({
    rule: 5,
    title: "DisableKey, PutKeyPolicy, CreateGrant (failed ones too), per key, principal and operation",
    sql: `${events}
${columns(5, "notable")}
FROM flat
WHERE eventname IN ('DisableKey', 'PutKeyPolicy', 'CreateGrant')
GROUP BY key_arn, principal, eventname`,
  });
  return out;
}

/** The statements as one script for people (`--print-sql`): a header, then each rule's statement. */
export function athenaSql(policy: Policy, scope: AuditScope, settings: RuleSettings, options: SqlOptions): string {
  const arns = [...scope.keys.keys()];
  const out: string[] = [
    `-- dropkeys audit-decrypts as Athena (Trino) SQL over the CloudTrail table ${options.table}.`,
    `-- Window ${options.since.toISOString()} .. ${options.until.toISOString()} (UTC); keys: ${scope.all ? "every KMS key" : arns.map((a) => scope.keys.get(a)?.label ?? a).join(", ") || "(none resolved)"}.`,
    `-- One statement per rule (Athena runs one at a time), each answering ${SQL_COLUMNS.join(", ")}.`,
    "-- Add your partition columns (region, timestamp) to the WHERE clause of `records` to prune partitions.",
  ];
  for (const s of athenaStatements(policy, scope, settings, options)) {
    out.push("", `-- Rule ${s.rule} (${["", "high", "high", "medium", "critical", "notable"][s.rule]}): ${s.title}.`);
    out.push(s.sql ? `${s.sql};` : `-- Not generated: ${s.skipped}.`);
  }
  return out.join("\n") + "\n";
}

const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
