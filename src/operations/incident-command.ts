// `dropkeys incident show|list|done`: the incident as the journal holds it.
import type { GlobalOptions } from "../lib/cli-options.js";
import { createContext } from "../lib/context.js";
import { usageError } from "../lib/errors.js";
import { table } from "../lib/output.js";
import { formatLocal } from "../lib/time.js";
import { CHECKLIST, incidentReport, isValidIncidentId, listIncidents, STEP_OPERATION } from "../lib/incident/incident.js";
import { formatLeft, incidentLines, timelineTable } from "../lib/incident/render.js";

export async function runIncidentShow(id: string, options: GlobalOptions): Promise<void> {
  const ctx = await createContext(options);
  const report = incidentReport(ctx.journal().entries(), id);
  if (!report) {
    throw usageError(`the journal has no entries for incident ${id}`, {
      code: "incident.unknown",
      hint: "`dropkeys incident list` shows the incidents the journal knows.",
    });
  }
  ctx.out.result(report, () => [...incidentLines(ctx, report), "", "Timeline:", timelineTable(ctx, report)].join("\n"));
}

export async function runIncidentList(options: GlobalOptions): Promise<void> {
  const ctx = await createContext(options);
  const rows = listIncidents(ctx.journal().entries());
  const c = ctx.out.color;
  ctx.out.result({ incidents: rows }, () => {
    if (rows.length === 0) return "The journal holds no incidents.";
    return table(
      ["INCIDENT", "DETECTED", "KEYS", "CHECKLIST", "NEXT DEADLINE", "LAST ACTIVITY"],
      rows.map((r) => {
        const open = r.deadlines.filter((d) => !d.done).sort((a, b) => a.leftMs - b.leftMs)[0];
        const next = !open ? c.green("all met") : open.overdue ? c.red(`${open.name.split(" (")[0]} OVERDUE`) : `${open.name.split(" (")[0]} in ${formatLeft(open.leftMs)}`;
        return [r.id, formatLocal(new Date(r.detectedAt), ctx.policy.timezone), r.keys.join(", "), `${r.done}/${r.total}`, next, formatLocal(new Date(r.lastActivity), ctx.policy.timezone)];
      }),
    );
  });
}

/** Mark a checklist step done that no dropkeys operation completes (scope, deploy, post-mortem...). */
export async function runIncidentDone(id: string, stepText: string, options: GlobalOptions & { note?: string }): Promise<void> {
  if (!isValidIncidentId(id)) throw usageError(`"${id}" is not an incident id`);
  const step = Number(stepText);
  const item = CHECKLIST.find((s) => s.step === step);
  if (!item) throw usageError(`step must be 1-${CHECKLIST.length} of POLICY.md §5, got "${stepText}"`, { hint: "`dropkeys incident show ID` lists the steps." });
  const ctx = await createContext(options);
  const journal = ctx.journal();
  journal.checkWritable();
  if (!incidentReport(journal.entries(), id)) {
    throw usageError(`the journal has no entries for incident ${id}`, { code: "incident.unknown", hint: "Start the incident with the operation it is about, e.g. `dropkeys disable KEY --incident ID`." });
  }
  const entry = journal.append({
    type: "event",
    operation: STEP_OPERATION,
    target: { name: id, kind: "incident" },
    actor: await ctx.identity(),
    incident: id,
    reason: options.note,
    params: { step, title: item.title },
  });
  const report = incidentReport(journal.entries(), id)!;
  ctx.out.result({ entry: entry.seq, incident: report }, () => [ctx.out.color.green(`Step ${step} of ${id} marked done (journal entry #${entry.seq}).`), "", ...incidentLines(ctx, report)].join("\n"));
}
