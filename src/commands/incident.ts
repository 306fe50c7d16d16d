import type { Command } from "commander";
import { examples, type GlobalOptions } from "../lib/cli-options.js";

export function register(command: Command): void {
  command.description("Incidents from the journal: timeline, POLICY.md §5 checklist, 72 h / 48 h deadlines");
  const show = command
    .command("show")
    .description("Everything the journal holds for an incident: checklist, deadlines (Europe/Oslo), timeline")
    .argument("<id>", "incident id, e.g. INC-20261123-1405")
    .action(async (id: string, options: GlobalOptions) => {
      const { runIncidentShow } = await import("../operations/incident-command.js");
      await runIncidentShow(id, options);
    });
  examples(show, "dropkeys incident show INC-20261123-1405", "dropkeys incident show INC-20261123-1405 --json");
  const list = command
    .command("list")
    .description("Every incident in the journal, newest first, with checklist progress and the next deadline")
    .action(async (options: GlobalOptions) => {
      const { runIncidentList } = await import("../operations/incident-command.js");
      await runIncidentList(options);
    });
  examples(list, "dropkeys incident list");
  const done = command
    .command("done")
    .description("Mark a checklist step done that no dropkeys command completes (scope, deploy, notification, post-mortem)")
    .argument("<id>", "incident id")
    .argument("<step>", "step number of POLICY.md §5 (1-12)")
    .option("--note <text>", "what was done, for the journal")
    .action(async (id: string, step: string, options: GlobalOptions & { note?: string }) => {
      const { runIncidentDone } = await import("../operations/incident-command.js");
      await runIncidentDone(id, step, options);
    });
  examples(done, "dropkeys incident done INC-20261123-1405 10 --note 'Datatilsynet notified, ref 26/01234'");
}
