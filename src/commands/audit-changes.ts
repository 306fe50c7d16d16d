import { Option, type Command } from "commander";
import { examples } from "../lib/cli-options.js";
import type { ChangesOptions } from "../lib/audit/changes-run.js";

export function register(command: Command): void {
  command
    .description(
      "Every change AWS recorded (CloudTrail) on an inventory key, alias or secret must match an approved journal entry; changes outside dropkeys are findings (exit 4), as is a gap in what CloudTrail records",
    )
    .option("--source <api|s3://BUCKET/PREFIX|DIR|FILE>", "where the events come from", "api")
    .option("--since <time>", "start of the window: a duration back (30d, 12h) or an ISO time", "30d")
    .option("--until <time>", "end of the window: a duration back or an ISO time", "now")
    .option("--clock-skew <duration>", "how far an event may lie outside its operation's intent..outcome window", "5m")
    .addOption(new Option("--journal-source <where>", "read the journal from its WORM mirror or the local copy (default: the mirror where the policy configures one)").choices(["local", "mirror"]))
    .option("--ndjson", "one JSON line per change on stdout (summary on stderr)", false)
    .option("--csv", "one CSV row per change on stdout (summary on stderr)", false)
    .addOption(new Option("--fail-on <severity>", "exit 4 when a finding is at least this severe").choices(["notable", "medium", "high", "critical", "none"]).default("high"))
    .option("--strict", "exit 1 when any input (file, object, event) had to be skipped", false)
    .option("--concurrency <n>", "S3 downloads at a time", "8")
    .option("--workers <n>", "parser threads for a local archive (default: one per core; 0 = none)")
    .option("--no-coverage", "do not read the trails' settings (then no gap is reported either)")
    .option("--incident <id>", "the incident this audit belongs to")
    .option("--reason <text>", "why (goes into the journal)")
    .action(async (options: ChangesOptions) => {
      const [{ createContext }, { runChangesAudit }] = await Promise.all([import("../lib/context.js"), import("../lib/audit/changes-run.js")]);
      await runChangesAudit(await createContext(options), options);
    });
  examples(
    command,
    "dropkeys audit-changes --since 7d                                   # CloudTrail's event history (LookupEvents)",
    "dropkeys audit-changes --source s3://drop-cloudtrail/org --since 2026-10-01 --json",
    "dropkeys audit-changes --source ./cloudtrail-copy --clock-skew 2m --csv > changes.csv",
    "dropkeys audit-changes --json --no-input                            # nightly from cron: exit 4 = a change outside dropkeys or a gap",
  );
}
