// `--print-sql`: the same scope and rules 1-5 as Athena (Trino) SQL over the standard CloudTrail
// table (the one AWS's documentation creates, `resources ARRAY<STRUCT<arn, accountid, type>>`),
// so an organisation-wide audit runs on that engine instead of one machine.
import type { Policy } from "../policy/schema.js";
import type { AuditScope } from "./keys.js";
import type { RuleSettings } from "./rules.js";

const USE_REGEX = "^(Decrypt|Encrypt|GenerateDataKey.*|ReEncrypt.*|Sign)$";

const q = (s: string) => `'${s.replaceAll("'", "''")}'`;
const likePattern = (glob: string) => glob.replace(/[\\%_]/g, (c) => `\\${c}`).replaceAll("*", "%");

export interface SqlOptions {
  table: string;
  since: Date;
  until: Date;
}

export function athenaSql(policy: Policy, scope: AuditScope, settings: RuleSettings, options: SqlOptions): string {
  const t = options.table;
  const since = q(options.since.toISOString().replace(/\.\d{3}Z$/, "Z"));
  const until = q(options.until.toISOString().replace(/\.\d{3}Z$/, "Z"));
  const arns = [...scope.keys.keys()];
  const keyFilter = scope.all ? "" : `\n    AND key_arn IN (${arns.map(q).join(", ") || "NULL"})`;
  const principal = "COALESCE(useridentity.sessioncontext.sessionissuer.arn, useridentity.arn, 'service:' || useridentity.invokedby)";
  const kms = `WITH kms AS (
  SELECT eventid, from_iso8601_timestamp(eventtime) AS ts, eventname, errorcode,
         ${principal} AS principal,
         useridentity.arn AS session_arn,
         res_arn AS key_arn,
         json_extract_scalar(requestparameters, '$.sourceKeyId') AS source_key
  FROM ${t}
  CROSS JOIN UNNEST(resources) AS r(res_arn, res_accountid, res_type)
  WHERE eventsource = 'kms.amazonaws.com'
    AND eventtime >= ${since} AND eventtime <= ${until}
)`;
  const zone = q(settings.timezone);
  const local = (f: string) => `${f}(ts AT TIME ZONE ${zone})`;
  const out: string[] = [
    `-- dropkeys audit-decrypts as Athena SQL over the CloudTrail table ${t}.`,
    `-- Window ${since} .. ${until} (UTC); keys: ${scope.all ? "every KMS key" : arns.map((a) => `${scope.keys.get(a)?.label ?? a}`).join(", ") || "(none resolved)"}.`,
    "-- One statement per rule (Athena runs one at a time). Add your partition column (region, timestamp) to the WHERE clauses to prune partitions.",
    "-- Events CloudTrail delivered twice appear twice here: count(DISTINCT eventid) where it matters.",
  ];

  const rows: string[] = [];
  for (const info of scope.keys.values()) {
    if (!info.entry) continue;
    const add = (roles: string[], decrypt: boolean) => {
      for (const role of roles) for (const p of policy.roles[role]?.principals ?? []) rows.push(`(${q(info.arn)}, ${q(likePattern(p))}, ${decrypt})`);
    };
    add(info.entry.decryptRoles, true);
    add(info.entry.encryptRoles, false);
  }
  out.push("", "-- Rule 1 (high): use of a key by a principal the policy does not allow for it (purpose binding).");
  if (rows.length === 0) out.push("-- Not generated: no key in scope has roles with principals in the policy.");
  else
    out.push(`${kms},
allowed (key_arn, pattern, may_decrypt) AS (VALUES
  ${rows.join(",\n  ")}
)
SELECT 1 AS rule, 'high' AS severity, k.key_arn, k.principal, min(k.ts) AS first_seen, max(k.ts) AS last_seen,
       count(DISTINCT k.eventid) AS events, array_join(array_agg(DISTINCT k.eventname), ',') AS operations,
       slice(array_agg(DISTINCT k.eventid), 1, 50) AS evidence
FROM kms k
WHERE k.errorcode IS NULL
  AND regexp_like(k.eventname, ${q(USE_REGEX)})
  AND k.principal NOT LIKE 'service:%'
  AND k.key_arn IN (SELECT DISTINCT key_arn FROM allowed)
  AND NOT EXISTS (
    SELECT 1 FROM allowed a
    WHERE a.key_arn = k.key_arn
      AND (k.principal LIKE a.pattern ESCAPE '\\' OR k.session_arn LIKE a.pattern ESCAPE '\\')
      AND (a.may_decrypt OR NOT (k.eventname = 'Decrypt' OR (k.eventname LIKE 'ReEncrypt%' AND (k.source_key IS NULL OR k.source_key = k.key_arn))))
  )
GROUP BY k.key_arn, k.principal;`);

  const failureKeyFilter = scope.narrowed && !scope.all ? `\n    AND any_match(resources, x -> x.arn IN (${arns.map(q).join(", ") || "NULL"}))` : "";
  out.push(
    "",
    `-- Rule 2 (high): more than ${settings.failedThreshold} failed KMS calls by one principal within ${settings.failedWindowMs / 1000} s (sliding window).`,
    `WITH failures AS (
  SELECT eventid, from_iso8601_timestamp(eventtime) AS ts, eventname, errorcode, ${principal} AS principal
  FROM ${t}
  WHERE eventsource = 'kms.amazonaws.com' AND errorcode IS NOT NULL
    AND eventtime >= ${since} AND eventtime <= ${until}${failureKeyFilter}
),
windowed AS (
  SELECT *, count(*) OVER (PARTITION BY principal ORDER BY ts
           RANGE BETWEEN INTERVAL '${settings.failedWindowMs / 1000}' SECOND PRECEDING AND CURRENT ROW) AS in_window
  FROM failures
)
SELECT 2 AS rule, 'high' AS severity, principal, min(ts) AS first_seen, max(ts) AS last_seen, max(in_window) AS most_in_window,
       slice(array_agg(eventid), 1, 50) AS evidence
FROM windowed
WHERE in_window > ${settings.failedThreshold}
GROUP BY principal;`,
  );

  const marked = [...scope.keys.values()].filter((k) => k.entry?.offHoursAlert).map((k) => k.arn);
  out.push("", `-- Rule 3 (medium): use of the marked keys outside business hours (${settings.timezone}, ISO days ${settings.days.join(",")}, ${hhmm(settings.startMinutes)}-${hhmm(settings.endMinutes)}).`);
  if (marked.length === 0) out.push("-- Not generated: no key in scope is marked offHoursAlert (or none resolved to an ARN).");
  else
    out.push(`${kms}
SELECT 3 AS rule, 'medium' AS severity, key_arn, principal, min(ts) AS first_seen, max(ts) AS last_seen,
       count(DISTINCT eventid) AS events, slice(array_agg(DISTINCT eventid), 1, 50) AS evidence
FROM kms
WHERE errorcode IS NULL
  AND regexp_like(eventname, ${q(USE_REGEX)})
  AND key_arn IN (${marked.map(q).join(", ")})
  AND NOT (${local("day_of_week")} IN (${settings.days.join(", ")})
           AND ${local("hour")} * 60 + ${local("minute")} >= ${settings.startMinutes}
           AND ${local("hour")} * 60 + ${local("minute")} < ${settings.endMinutes})
GROUP BY key_arn, principal;`);

  out.push(
    "",
    "-- Rule 4 (critical): any ScheduleKeyDeletion.",
    `${kms}
SELECT DISTINCT 4 AS rule, 'critical' AS severity, key_arn, principal, ts, eventid, errorcode
FROM kms
WHERE eventname = 'ScheduleKeyDeletion'${keyFilter}
ORDER BY ts;`,
    "",
    "-- Rule 5 (notable): DisableKey, PutKeyPolicy, CreateGrant.",
    `${kms}
SELECT 5 AS rule, 'notable' AS severity, key_arn, principal, eventname, min(ts) AS first_seen, max(ts) AS last_seen,
       count(DISTINCT eventid) AS events, slice(array_agg(DISTINCT eventid), 1, 50) AS evidence
FROM kms
WHERE eventname IN ('DisableKey', 'PutKeyPolicy', 'CreateGrant')${keyFilter}
GROUP BY key_arn, principal, eventname;`,
  );
  return out.join("\n") + "\n";
}

const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
