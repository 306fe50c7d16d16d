// The alert rules of POLICY.md §8 over a stream of KMS events, and the per-key summary. Memory
// stays bounded by keys x principals (plus failures and key-management events, which are few):
// uses are counted, not kept, and evidence lists are capped.
import type { Policy } from "../policy/schema.js";
import { EventIdSet } from "./dedupe.js";
import type { AuditScope, KeyInfo } from "./keys.js";
import { classify, isDecryptSide } from "./normalize.js";
import type { AuditEvent, Finding, Severity } from "./types.js";

export const EVIDENCE_CAP = 50;
export const UNKNOWN_KEY = "(unknown key)";
/** How a key reference that could not be resolved appears as a key (under --all-keys). */
export const unresolvedLabel = (ref: string) => `${ref} (unresolved)`;
const isArn = (key: string) => key.startsWith("arn:");

export interface RuleSettings {
  failedThreshold: number;
  failedWindowMs: number;
  timezone: string;
  /** ISO weekdays (1 = Monday). */
  days: number[];
  startMinutes: number;
  endMinutes: number;
}

export function ruleSettings(policy: Policy): RuleSettings {
  const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  return {
    failedThreshold: policy.alerts.failedAttempts.threshold,
    failedWindowMs: policy.alerts.failedAttempts.window,
    timezone: policy.businessHours.timezone,
    days: policy.businessHours.days,
    startMinutes: toMinutes(policy.businessHours.start),
    endMinutes: toMinutes(policy.businessHours.end),
  };
}

const MANAGEMENT_ALERTS = new Set(["DisableKey", "PutKeyPolicy", "CreateGrant"]);

/** Wall clock in a zone, cached per 15 minutes (every zone's offset changes on such a boundary). */
export class ZoneClock {
  private readonly format: Intl.DateTimeFormat;
  private readonly cache = new Map<number, { isoWeekday: number; minutes: number }>();
  constructor(zone: string) {
    this.format = new Intl.DateTimeFormat("en-US", { timeZone: zone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }
  at(time: number): { isoWeekday: number; minutes: number } {
    const bucket = Math.floor(time / 900_000);
    let base = this.cache.get(bucket);
    if (!base) {
      const parts = this.format.formatToParts(new Date(bucket * 900_000));
      const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
      const weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(get("weekday")) + 1;
      base = { isoWeekday: weekday, minutes: Number(get("hour")) * 60 + Number(get("minute")) };
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(bucket, base);
    }
    return { isoWeekday: base.isoWeekday, minutes: base.minutes + Math.floor((time - bucket * 900_000) / 60_000) };
  }
}

export interface PrincipalSummary {
  principal: string;
  via: string[];
  operations: Record<string, number>;
  uses: number;
  management: number;
  failures: number;
  first: string;
  last: string;
}

export interface KeySummary {
  key: string;
  arn?: string;
  uses: number;
  management: number;
  failures: number;
  other: number;
  first?: string;
  last?: string;
  principals: PrincipalSummary[];
}

export interface AuditCounts {
  /** Distinct events in scope. */
  events: number;
  duplicates: number;
  /** Events naming a key that could not be resolved to an ARN (listed under --all-keys). */
  unresolved: number;
  uses: number;
  management: number;
  failures: number;
}

interface PrincipalAgg {
  via: Set<string>;
  operations: Map<string, number>;
  uses: number;
  management: number;
  failures: number;
  first: number;
  last: number;
}

interface KeyAgg {
  uses: number;
  management: number;
  failures: number;
  other: number;
  first: number;
  last: number;
  principals: Map<string, PrincipalAgg>;
}

interface Group {
  rule: Finding["rule"];
  severity: Severity;
  keyArn: string;
  principal: string;
  operations: Set<string>;
  first: number;
  last: number;
  count: number;
  /** The EVIDENCE_CAP earliest events (by time, then id): the same whatever order events come in. */
  evidence: { time: number; id: string }[];
  failedCount: number;
}

const byTimeThenId = (a: { time: number; id: string }, b: { time: number; id: string }) => a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

interface Failure {
  time: number;
  id: string;
  principal: string;
  key: string;
  name: string;
}

export const RULE_NAMES: Record<Finding["rule"], string> = {
  1: "use by a principal the policy does not allow for this key",
  2: "repeated failed KMS attempts",
  3: "use of a sensitive key outside business hours",
  4: "key deletion scheduled",
  5: "key disabled, key policy changed or grant created",
};

export class Auditor {
  readonly counts: AuditCounts = { events: 0, duplicates: 0, unresolved: 0, uses: 0, management: 0, failures: 0 };
  /** Keys whose allowed roles list no principals: rule 1 cannot be checked for them. */
  readonly uncheckable = new Set<string>();
  private readonly ids = new EventIdSet();
  private readonly keys = new Map<string, KeyAgg>();
  private readonly groups = new Map<string, Group>();
  private readonly failuresList: Failure[] = [];
  private readonly clock: ZoneClock;
  private readonly allowed = new Map<string, { decrypt: RegExp[]; use: RegExp[] }>();

  constructor(
    private readonly scope: AuditScope,
    policy: Policy,
    private readonly settings: RuleSettings = ruleSettings(policy),
  ) {
    this.clock = new ZoneClock(settings.timezone);
    for (const info of scope.keys.values()) {
      if (!info.entry) continue;
      const principalsOf = (roles: string[]) => roles.flatMap((r) => policy.roles[r]?.principals ?? []).map(globToRegExp);
      const decrypt = principalsOf(info.entry.decryptRoles);
      const use = principalsOf([...info.entry.decryptRoles, ...info.entry.encryptRoles]);
      if (use.length === 0) this.uncheckable.add(info.label);
      this.allowed.set(info.arn, { decrypt, use });
    }
  }

  /**
   * Count one event; false for a duplicate. A duplicate is the same eventID with the same
   * eventTime and eventName (CloudTrail delivering a record twice); records sharing only an
   * eventID are different records.
   */
  add(event: AuditEvent): boolean {
    if (!this.ids.add(`${event.id}\u0000${event.time}\u0000${event.name}`)) {
      this.counts.duplicates++;
      return false;
    }
    this.counts.events++;
    if (event.unresolvedKey !== undefined) this.counts.unresolved++;
    const kind = classify(event.name);
    const failed = event.errorCode !== undefined;
    if (failed) this.counts.failures++;
    else if (kind === "use") this.counts.uses++;
    if (kind === "management") this.counts.management++;
    const keys = this.keysOf(event);
    for (const keyArn of keys) {
      this.summarise(keyArn, event, kind, failed);
      if (kind === "use" && !failed) this.checkUse(keyArn, event);
      if (event.name === "ScheduleKeyDeletion") this.group(4, "critical", keyArn, event, event.id);
      else if (MANAGEMENT_ALERTS.has(event.name)) this.group(5, "notable", keyArn, event, `${event.name}`);
    }
    if (failed && keys.length > 0) this.failuresList.push({ time: event.time, id: event.id, principal: event.principal, key: keys.join(","), name: event.name });
    return true;
  }

  /**
   * The keys of an event that are in scope (all of them with --all-keys); a key reference that
   * could not be resolved as "REF (unresolved)" under --all-keys; "(unknown key)" for a failed call
   * that names none. Every rule takes an event's keys from here.
   */
  keysOf(event: AuditEvent): string[] {
    const keys = this.scope.all ? [...event.keys] : event.keys.filter((k) => this.scope.keys.has(k));
    if (event.unresolvedKey !== undefined) {
      if (this.scope.all) keys.push(unresolvedLabel(event.unresolvedKey));
    } else if (event.keys.length === 0) keys.push(UNKNOWN_KEY);
    return keys;
  }

  label(keyArn: string): string {
    return this.scope.keys.get(keyArn)?.label ?? keyArn;
  }

  private summarise(keyArn: string, event: AuditEvent, kind: string, failed: boolean): void {
    let k = this.keys.get(keyArn);
    if (!k) {
      k = { uses: 0, management: 0, failures: 0, other: 0, first: event.time, last: event.time, principals: new Map() };
      this.keys.set(keyArn, k);
    }
    if (failed) k.failures++;
    else if (kind === "use") k.uses++;
    else if (kind === "management") k.management++;
    else k.other++;
    k.first = Math.min(k.first, event.time);
    k.last = Math.max(k.last, event.time);
    let p = k.principals.get(event.principal);
    if (!p) {
      p = { via: new Set(), operations: new Map(), uses: 0, management: 0, failures: 0, first: event.time, last: event.time };
      k.principals.set(event.principal, p);
    }
    if (event.via) p.via.add(event.via);
    p.operations.set(event.name, (p.operations.get(event.name) ?? 0) + 1);
    if (failed) p.failures++;
    else if (kind === "use") p.uses++;
    else if (kind === "management") p.management++;
    p.first = Math.min(p.first, event.time);
    p.last = Math.max(p.last, event.time);
  }

  private checkUse(keyArn: string, event: AuditEvent): void {
    const info: KeyInfo | undefined = this.scope.keys.get(keyArn);
    const allowed = this.allowed.get(keyArn);
    // Rule 1 binds IAM principals; an AWS service acting as itself has no ARN to bind.
    if (allowed && allowed.use.length > 0 && !event.principal.startsWith("service:")) {
      const patterns = isDecryptSide(event, keyArn) ? allowed.decrypt : allowed.use;
      const ok = patterns.some((re) => re.test(event.principal) || (event.session !== undefined && re.test(event.session)));
      if (!ok) this.group(1, "high", keyArn, event, "");
    }
    if (info?.entry?.offHoursAlert && !this.inBusinessHours(event.time)) this.group(3, "medium", keyArn, event, "");
  }

  inBusinessHours(time: number): boolean {
    const { isoWeekday, minutes } = this.clock.at(time);
    return this.settings.days.includes(isoWeekday) && minutes >= this.settings.startMinutes && minutes < this.settings.endMinutes;
  }

  private group(rule: Finding["rule"], severity: Severity, keyArn: string, event: AuditEvent, extra: string): void {
    const id = `${rule}\u0000${keyArn}\u0000${event.principal}\u0000${extra}`;
    let g = this.groups.get(id);
    if (!g) {
      g = { rule, severity, keyArn, principal: event.principal, operations: new Set(), first: event.time, last: event.time, count: 0, evidence: [], failedCount: 0 };
      this.groups.set(id, g);
    }
    g.operations.add(event.name);
    g.count++;
    if (event.errorCode) g.failedCount++;
    g.first = Math.min(g.first, event.time);
    g.last = Math.max(g.last, event.time);
    const item = { time: event.time, id: event.id };
    if (g.evidence.length < EVIDENCE_CAP) g.evidence.push(item);
    else {
      let latest = 0;
      for (let i = 1; i < g.evidence.length; i++) if (byTimeThenId(g.evidence[i]!, g.evidence[latest]!) > 0) latest = i;
      if (byTimeThenId(item, g.evidence[latest]!) < 0) g.evidence[latest] = item;
    }
  }

  /** Rule 2 over the failures: more than `threshold` by one principal within the window (sliding). */
  private failureBursts(): Finding[] {
    const byPrincipal = new Map<string, Failure[]>();
    for (const f of this.failuresList) {
      const list = byPrincipal.get(f.principal) ?? [];
      list.push(f);
      byPrincipal.set(f.principal, list);
    }
    const { failedThreshold: threshold, failedWindowMs: window } = this.settings;
    const out: Finding[] = [];
    for (const [principal, list] of byPrincipal) {
      list.sort(byTimeThenId);
      let start = 0;
      let burst: { from: number; to: number } | undefined;
      const flush = () => {
        if (!burst) return;
        const events = list.slice(burst.from, burst.to + 1);
        const keys = [...new Set(events.flatMap((e) => e.key.split(",")))];
        const names = [...new Set(events.map((e) => e.name))];
        out.push({
          rule: 2,
          ruleName: RULE_NAMES[2],
          severity: "high",
          key: keys.map((k) => this.label(k)).join(", "),
          ...(keys.length === 1 && isArn(keys[0]!) ? { keyArn: keys[0] } : {}),
          principal,
          first: iso(events[0]!.time),
          last: iso(events[events.length - 1]!.time),
          count: events.length,
          operations: names,
          message: `${events.length} failed KMS calls by ${principal} within ${minutes(events[events.length - 1]!.time - events[0]!.time)} (more than ${threshold} within ${minutes(window)})`,
          evidence: events.slice(0, EVIDENCE_CAP).map((e) => e.id),
          evidenceTotal: events.length,
        });
        burst = undefined;
      };
      for (let end = 0; end < list.length; end++) {
        while (list[end]!.time - list[start]!.time > window) start++;
        if (end - start + 1 > threshold) {
          // Overlapping or adjacent windows are one burst: its events are every failure of those windows.
          if (burst && start <= burst.to + 1) burst.to = end;
          else {
            flush();
            burst = { from: start, to: end };
          }
        }
      }
      flush();
    }
    return out;
  }

  findings(): Finding[] {
    const out: Finding[] = [];
    for (const g of this.groups.values()) {
      const key = this.label(g.keyArn);
      const ops = [...g.operations].sort();
      const failedNote = g.failedCount ? ` (${g.failedCount} failed)` : "";
      const message =
        g.rule === 1
          ? `${g.principal} used ${key} (${ops.join(", ")}) ${g.count} time${g.count === 1 ? "" : "s"}; the policy does not allow it for this key`
          : g.rule === 3
            ? `${g.count} use${g.count === 1 ? "" : "s"} of ${key} by ${g.principal} outside business hours`
            : g.rule === 4
              ? `ScheduleKeyDeletion on ${key} by ${g.principal}${failedNote}`
              : `${ops.join(", ")} on ${key} by ${g.principal}: ${g.count} call${g.count === 1 ? "" : "s"}${failedNote}`;
      out.push({
        rule: g.rule,
        ruleName: RULE_NAMES[g.rule],
        severity: g.severity,
        key,
        ...(isArn(g.keyArn) ? { keyArn: g.keyArn } : {}),
        principal: g.principal,
        first: iso(g.first),
        last: iso(g.last),
        count: g.count,
        operations: ops,
        message,
        evidence: g.evidence.sort(byTimeThenId).map((e) => e.id),
        evidenceTotal: g.count,
      });
    }
    out.push(...this.failureBursts());
    return sortFindings(out);
  }

  summary(): KeySummary[] {
    const out: KeySummary[] = [];
    // Every key in scope appears, with zero counts when it was not used: silence is an answer too.
    const arns = new Set([...this.scope.keys.keys(), ...this.keys.keys()]);
    for (const arn of arns) {
      const k = this.keys.get(arn);
      const principals: PrincipalSummary[] = k
        ? [...k.principals].map(([principal, p]) => ({
            principal,
            via: [...p.via].sort(),
            operations: Object.fromEntries([...p.operations].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))),
            uses: p.uses,
            management: p.management,
            failures: p.failures,
            first: iso(p.first),
            last: iso(p.last),
          }))
        : [];
      principals.sort((a, b) => b.uses - a.uses || b.failures - a.failures || a.principal.localeCompare(b.principal));
      out.push({
        key: isArn(arn) ? this.label(arn) : arn,
        ...(isArn(arn) ? { arn } : {}),
        uses: k?.uses ?? 0,
        management: k?.management ?? 0,
        failures: k?.failures ?? 0,
        other: k?.other ?? 0,
        ...(k ? { first: iso(k.first), last: iso(k.last) } : {}),
        principals,
      });
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }
}

/** Most severe first, then by rule, time, key, principal: the same order whatever the engine. */
export function sortFindings(findings: Finding[]): Finding[] {
  const rank = (s: Severity) => ["critical", "high", "medium", "notable"].indexOf(s);
  const text = (f: Finding) => `${f.first}\u0000${f.key}\u0000${f.principal}\u0000${f.operations.join(",")}`;
  return findings.sort((a, b) => rank(a.severity) - rank(b.severity) || a.rule - b.rule || (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
}

const iso = (ms: number) => new Date(ms).toISOString();
const minutes = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`);

/** A principal pattern from the policy: exact ARN, or with "*" wildcards. */
export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
}

export function severityAtLeast(severity: Severity, threshold: Severity): boolean {
  const order: Severity[] = ["notable", "medium", "high", "critical"];
  return order.indexOf(severity) >= order.indexOf(threshold);
}
