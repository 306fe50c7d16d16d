// Journal entries by key, incident, operation and time (`log show`, incident reports).
import type { JournalEntry } from "./journal.js";

export function filterEntries(entries: JournalEntry[], options: { key?: string; incident?: string; since?: Date; operation?: string }): JournalEntry[] {
  const key = options.key?.replace(/^alias\//, "");
  // Outcomes carry no incident of their own: follow them to their intent.
  const incidentSeqs = new Set(entries.filter((e) => options.incident && e.incident === options.incident).map((e) => e.seq));
  return entries.filter((e) => {
    if (key && e.target?.name !== key && e.target?.arn !== key && !(e.target?.arn ?? "").endsWith(`/${key}`)) return false;
    if (options.incident && !(e.incident === options.incident || (e.intentSeq !== undefined && incidentSeqs.has(e.intentSeq)))) return false;
    if (options.operation && e.operation !== options.operation) return false;
    if (options.since && new Date(e.time) < options.since) return false;
    return true;
  });
}
