// An incident as the journal holds it (POLICY.md §5): its timeline, the revocation checklist with
// each step done or not (from the operations journalled under the incident, or marked by hand
// with `dropkeys incident done`), and the GDPR Art. 33 (72 h) and post-mortem (48 h) deadlines.
import type { JournalEntry } from "../journal/journal.js";
import { filterEntries } from "../journal/filter.js";
import { DEFAULT_ZONE, localClock } from "../time.js";

const HOUR = 3_600_000;
/** GDPR Art. 33 / Personopplysningsloven § 32: notify Datatilsynet within 72 hours of detection. */
export const BREACH_NOTIFICATION_MS = 72 * HOUR;
/** POLICY.md §5 step 12: post-mortem within 48 hours. */
export const POST_MORTEM_MS = 48 * HOUR;
/** The journal operation that marks a manual checklist step done. */
export const STEP_OPERATION = "incident-step";

export interface ChecklistStep {
  step: number;
  title: string;
  /** Journal operations whose success in this incident completes the step. */
  operations?: string[];
}

/** POLICY.md §5, revocation after compromise. */
export const CHECKLIST: ChecklistStep[] = [
  { step: 1, title: "Alert the Security Lead / CISO" },
  { step: 2, title: "Scope: what data the key could reach" },
  { step: 3, title: "Disable the key in KMS", operations: ["disable"] },
  { step: 4, title: "Create the replacement key", operations: ["generate", "rotate-key", "rotate-jwt", "rotate-jwt-emergency"] },
  { step: 5, title: "Re-encrypt everything it protected (L4 at once, L3 within 4 h, L2 within 24 h)", operations: ["reencrypt", "reencrypt-emergency"] },
  { step: 6, title: "Point the application at the new key" },
  { step: 7, title: "Deploy" },
  { step: 8, title: "Verify the application works with the new key" },
  { step: 9, title: "Audit CloudTrail: which decrypts used the key in the last 30 days", operations: ["audit", "audit-decrypts"] },
  { step: 10, title: "Assess breach notification: GDPR Art. 33 / Personopplysningsloven § 32 (Datatilsynet, 72 h), Finanstilsynet for payment data" },
  { step: 11, title: "Incident log" },
  { step: 12, title: "Post-mortem within 48 hours" },
];

export interface StepState extends ChecklistStep {
  done: boolean;
  /** How we know: the journal entry that completed it. */
  evidence?: string | undefined;
  doneAt?: string | undefined;
}

export interface Deadline {
  name: string;
  step: number;
  due: string;
  /** Milliseconds left (negative when overdue). */
  leftMs: number;
  overdue: boolean;
  done: boolean;
}

export interface TimelineRow {
  seq: number;
  time: string;
  type: JournalEntry["type"];
  operation: string;
  target?: string | undefined;
  actor: string;
  approvals: string[];
  outcome?: string | undefined;
  detail?: string | undefined;
}

export interface IncidentReport {
  id: string;
  detectedAt: string;
  /** Where detectedAt came from: the disable's --detected-at, or the first journal entry. */
  detectedAtSource: "detected-at" | "first entry";
  keys: string[];
  timeline: TimelineRow[];
  checklist: StepState[];
  deadlines: Deadline[];
  /** Deadlines passed with their step not done. */
  overdue: number;
}

/** INC-YYYYMMDD-HHMM from a time, in the policy's zone. */
export function newIncidentId(at: Date, zone = DEFAULT_ZONE): string {
  const clock = localClock(at, zone);
  const hh = String(Math.floor(clock.minutes / 60)).padStart(2, "0");
  const mm = String(clock.minutes % 60).padStart(2, "0");
  return `INC-${clock.date.replaceAll("-", "")}-${hh}${mm}`;
}

export function isValidIncidentId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id);
}

export function deadlinesFrom(detectedAt: Date): { breachNotification: Date; postMortem: Date } {
  return {
    breachNotification: new Date(detectedAt.getTime() + BREACH_NOTIFICATION_MS),
    postMortem: new Date(detectedAt.getTime() + POST_MORTEM_MS),
  };
}

function shortActor(entry: JournalEntry): string {
  return `${entry.actor.aws.split("/").pop() ?? entry.actor.aws} (${entry.actor.osUser}@${entry.actor.host})`;
}

function rowOf(entry: JournalEntry, intents: Map<number, JournalEntry>): TimelineRow {
  const intent = entry.intentSeq !== undefined ? intents.get(entry.intentSeq) : undefined;
  const detail =
    entry.operation === STEP_OPERATION
      ? `step ${String(entry.params?.step)} done${entry.reason ? `: ${entry.reason}` : ""}`
      : entry.type === "intent"
        ? entry.reason
        : entry.verification
          ? `${entry.verification.method}: ${entry.verification.result}${entry.verification.detail ? `, ${entry.verification.detail}` : ""}`
          : entry.error
            ? `${entry.error.code}: ${entry.error.message}${entry.state ? ` (state: ${entry.state})` : ""}`
            : entry.reason;
  return {
    seq: entry.seq,
    time: entry.time,
    type: entry.type,
    operation: entry.operation,
    target: entry.target?.name ?? entry.target?.arn ?? intent?.target?.name,
    actor: shortActor(entry),
    approvals: (entry.approvals ?? []).map((a) => `${a.approver} (${a.role})`),
    outcome: entry.type === "outcome" ? entry.outcome : entry.type === "event" ? (entry.outcome ?? "recorded") : undefined,
    detail,
  };
}

/** Every entry of the incident, with outcomes followed to their intents. */
export function incidentEntries(all: JournalEntry[], id: string): JournalEntry[] {
  return filterEntries(all, { incident: id });
}

export function incidentReport(all: JournalEntry[], id: string, now = new Date()): IncidentReport | undefined {
  const entries = incidentEntries(all, id);
  if (entries.length === 0) return undefined;
  const intents = new Map(entries.filter((e) => e.type === "intent").map((e) => [e.seq, e]));
  const detected = entries.map((e) => e.params?.detectedAt).find((d): d is string => typeof d === "string" && !Number.isNaN(Date.parse(d)));
  const detectedAt = new Date(detected ?? entries[0]!.time);
  const checklist = CHECKLIST.map((step) => stepState(step, entries, intents));
  const deadlineDates = deadlinesFrom(detectedAt);
  const deadline = (name: string, step: number, due: Date): Deadline => {
    const done = checklist.find((s) => s.step === step)?.done ?? false;
    const leftMs = due.getTime() - now.getTime();
    return { name, step, due: due.toISOString(), leftMs, overdue: !done && leftMs < 0, done };
  };
  const deadlines = [
    deadline("Post-mortem (POLICY.md §5 step 12)", 12, deadlineDates.postMortem),
    deadline("Breach notification to Datatilsynet (GDPR Art. 33, 72 h)", 10, deadlineDates.breachNotification),
  ];
  const keys = [...new Set(entries.map((e) => e.target?.name ?? intents.get(e.intentSeq ?? -1)?.target?.name).filter((n): n is string => !!n && n !== id))];
  return {
    id,
    detectedAt: detectedAt.toISOString(),
    detectedAtSource: detected ? "detected-at" : "first entry",
    keys,
    timeline: entries.map((e) => rowOf(e, intents)),
    checklist,
    deadlines,
    overdue: deadlines.filter((d) => d.overdue).length,
  };
}

function stepState(step: ChecklistStep, entries: JournalEntry[], intents: Map<number, JournalEntry>): StepState {
  const manual = entries.find((e) => e.operation === STEP_OPERATION && Number(e.params?.step) === step.step);
  if (manual) return { ...step, done: true, evidence: `#${manual.seq} marked done by ${shortActor(manual)}${manual.reason ? `: ${manual.reason}` : ""}`, doneAt: manual.time };
  if (step.operations) {
    const ops = step.operations;
    const done = entries.find(
      (e) =>
        ops.includes(e.operation) &&
        // An outcome that succeeded, or an event (an audit run, a disable found already done).
        ((e.type === "outcome" && e.outcome === "succeeded") || (e.type === "event" && e.outcome !== "failed")),
    );
    if (done) {
      const target = done.target?.name ?? intents.get(done.intentSeq ?? -1)?.target?.name ?? "";
      return { ...step, done: true, evidence: `#${done.seq} ${done.operation} ${target} ${done.outcome === "noop" ? "(already done)" : done.type === "event" ? "recorded" : "succeeded"}`.replace(/\s+/g, " "), doneAt: done.time };
    }
  }
  if (step.step === 1) {
    const alerted = entries.find((e) => (e.approvals ?? []).some((a) => /^(security-lead|CISO)$/i.test(a.role)));
    if (alerted) {
      const who = alerted.approvals!.find((a) => /^(security-lead|CISO)$/i.test(a.role))!;
      return { ...step, done: true, evidence: `#${alerted.seq} approved by ${who.approver} (${who.role})`, doneAt: alerted.time };
    }
  }
  if (step.step === 11) return { ...step, done: true, evidence: `${entries.length} journal entries under this incident`, doneAt: entries[0]!.time };
  return { ...step, done: false };
}

export interface IncidentListRow {
  id: string;
  detectedAt: string;
  keys: string[];
  entries: number;
  done: number;
  total: number;
  lastActivity: string;
  overdue: number;
  deadlines: Deadline[];
}

/** Every incident the journal knows, newest first. */
export function listIncidents(all: JournalEntry[], now = new Date()): IncidentListRow[] {
  const ids = [...new Set(all.map((e) => e.incident).filter((i): i is string => !!i))];
  const rows: IncidentListRow[] = [];
  for (const id of ids) {
    const report = incidentReport(all, id, now);
    if (!report) continue;
    rows.push({
      id,
      detectedAt: report.detectedAt,
      keys: report.keys,
      entries: report.timeline.length,
      done: report.checklist.filter((s) => s.done).length,
      total: report.checklist.length,
      lastActivity: report.timeline[report.timeline.length - 1]!.time,
      overdue: report.overdue,
      deadlines: report.deadlines,
    });
  }
  return rows.sort((a, b) => b.detectedAt.localeCompare(a.detectedAt));
}
