import { Option, type Command } from "commander";
import { collect, examples } from "../lib/cli-options.js";
import type { AuditOptions } from "../lib/audit/run.js";

export function register(command: Command): void {
  command
    .description(
      "Who used which KMS key, from CloudTrail (LookupEvents, a trail's S3 archive or a local copy), with the policy's alert rules; exit 4 on findings at or above --fail-on",
    )
    .option("--source <api|s3://BUCKET/PREFIX|DIR|FILE>", "where the events come from", "api")
    .option("--key <name|arn>", "an inventory KMS key or a key ARN (repeatable; default every KMS key of the inventory)", collect, [] as string[])
    .option("--all-keys", "every KMS key in the logs, not only the inventory's", false)
    .option("--since <time>", "start of the window: a duration back (30d, 12h) or an ISO time", "30d")
    .option("--until <time>", "end of the window: a duration back or an ISO time", "now")
    .option("--ndjson", "one JSON line per matching event on stdout (summary on stderr)", false)
    .option("--csv", "one CSV row per matching event on stdout (summary on stderr)", false)
    .addOption(new Option("--fail-on <severity>", "exit 4 when a finding is at least this severe").choices(["notable", "medium", "high", "critical", "none"]).default("high"))
    .option("--strict", "exit 1 when any input (file, object, event) had to be skipped", false)
    .option("--print-sql", "print the Athena SQL for this scope and rules 1-5, read nothing", false)
    .option("--athena-table <name>", "the CloudTrail table for --print-sql and --engine athena", "cloudtrail_logs")
    .addOption(new Option("--engine <engine>", "local: read --source here; athena: run the rules as Athena queries over --athena-table").choices(["local", "athena"]).default("local"))
    .option("--athena-workgroup <name>", "the Athena workgroup (--engine athena)", "primary")
    .option("--athena-output <s3://BUCKET/PREFIX>", "where Athena writes query results (else the workgroup's setting)")
    .option("--athena-database <name>", "the database (Glue catalog) of --athena-table", "default")
    .option("--athena-timeout <duration>", "stop a query still running after this long (exit 1)", "30m")
    .option("--concurrency <n>", "S3 downloads at a time", "8")
    .option("--workers <n>", "parser threads for a local archive (default: one per core; 0 = none)")
    .option("--no-coverage", "do not read the trails' settings (DescribeTrails, GetEventSelectors)")
    .option("--incident <id>", "the incident this audit belongs to (its step 9 is then done in `dropkeys incident show`)")
    .option("--reason <text>", "why (goes into the journal)")
    .option("--also-changes", "also run audit-changes in the same pass over the source (its report under changeAudit)", false)
    .option("--clock-skew <duration>", "with --also-changes: the tolerance around each operation's intent..outcome", "5m")
    .addOption(new Option("--journal-source <where>", "with --also-changes: read the journal from its WORM mirror or the local copy").choices(["local", "mirror"]))
    .action(async (options: AuditOptions) => {
      const [{ createContext }, { runAudit }] = await Promise.all([import("../lib/context.js"), import("../lib/audit/run.js")]);
      await runAudit(await createContext(options), options);
    });
  examples(
    command,
    "dropkeys audit-decrypts --key drop-kyc-key --since 30d --incident INC-20261123-1405   # POLICY.md §5 step 9",
    "dropkeys audit-decrypts --source s3://drop-cloudtrail/org --since 2026-10-01 --json",
    "dropkeys audit-decrypts --source ./cloudtrail-copy --all-keys --csv > uses.csv",
    "dropkeys audit-decrypts --print-sql --since 90d > audit.sql            # run it in Athena",
    "dropkeys audit-decrypts --engine athena --athena-table org_trail --athena-output s3://drop-athena/results/ --since 1y",
    "dropkeys audit-decrypts --json --no-input                              # nightly from cron: exit 4 = findings",
  );
}
