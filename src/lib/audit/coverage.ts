// Is anything logged at all? An empty audit can mean "nobody used the key" or "nothing was
// recorded": a trail can exclude KMS (ExcludeManagementEventSources), record only writes (which
// hides Decrypt), be stopped, or not exist. Read the trails of each region and say which.
import {
  DescribeTrailsCommand,
  GetEventSelectorsCommand,
  GetTrailStatusCommand,
  type AdvancedEventSelector,
  type CloudTrailClient,
  type EventSelector,
  type Trail,
} from "@aws-sdk/client-cloudtrail";
import { awsErrorName } from "../errors.js";
import { KMS_SOURCE } from "./normalize.js";

export interface TrailCoverage {
  name: string;
  arn: string;
  homeRegion: string;
  logging: boolean | undefined;
  kmsReads: boolean;
  kmsWrites: boolean;
  bucket?: string | undefined;
  prefix?: string | undefined;
  notes: string[];
  /** With checkCoverage's `writesOf`: whether the trail records each source's write events. */
  writes?: Record<string, boolean>;
}

export interface RegionCoverage {
  region: string;
  /** true / false, or null when the trails could not be read. */
  kmsReads: boolean | null;
  kmsWrites: boolean | null;
  trails: TrailCoverage[];
  /** One plain sentence for people. */
  message: string;
}

export interface Coverage {
  checked: boolean;
  regions: RegionCoverage[];
  /** The sentences that say something is not recorded (empty when all is well). */
  gaps: string[];
}

type Selectors = { basic: EventSelector[]; advanced: AdvancedEventSelector[] };

/** Which KMS management events a trail's selectors record. */
export function evaluateSelectors(sel: Selectors, eventSource = KMS_SOURCE): { reads: boolean; writes: boolean; notes: string[] } {
  const notes: string[] = [];
  if (sel.basic.length === 0 && sel.advanced.length === 0) {
    notes.push("no event selectors returned; AWS's default records all management events");
    return { reads: true, writes: true, notes };
  }
  let reads = false;
  let writes = false;
  for (const s of sel.basic) {
    if (s.IncludeManagementEvents === false) continue;
    if ((s.ExcludeManagementEventSources ?? []).includes(eventSource)) {
      notes.push(`ExcludeManagementEventSources contains ${eventSource}`);
      continue;
    }
    const rw = s.ReadWriteType ?? "All";
    if (rw !== "WriteOnly") reads = true;
    else notes.push("ReadWriteType is WriteOnly (read events such as Decrypt are not recorded)");
    if (rw !== "ReadOnly") writes = true;
    else notes.push("ReadWriteType is ReadOnly (key management is not recorded)");
  }
  for (const s of sel.advanced) {
    const fields = s.FieldSelectors ?? [];
    const field = (name: string) => fields.find((f) => f.Field === name);
    if (!field("eventCategory")?.Equals?.includes("Management")) continue;
    const source = field("eventSource");
    if (source?.NotEquals?.includes(eventSource) || (source?.Equals && !source.Equals.includes(eventSource))) {
      notes.push(`advanced selector ${s.Name ?? ""} excludes ${eventSource}`.replace("  ", " "));
      continue;
    }
    const ro = field("readOnly");
    const onlyWrites = ro?.Equals?.includes("false") || ro?.NotEquals?.includes("true");
    const onlyReads = ro?.Equals?.includes("true") || ro?.NotEquals?.includes("false");
    if (!onlyWrites) reads = true;
    else notes.push(`advanced selector ${s.Name ?? ""} records only write events (readOnly = false)`.replace("  ", " "));
    if (!onlyReads) writes = true;
  }
  return { reads, writes, notes };
}

export async function checkCoverage(cloudtrail: (region: string) => CloudTrailClient, regions: string[], source: "api" | "archive", writesOf: string[] = []): Promise<Coverage> {
  const out: Coverage = { checked: true, regions: [], gaps: [] };
  for (const region of regions) {
    let trails: Trail[];
    try {
      trails = (await cloudtrail(region).send(new DescribeTrailsCommand({ includeShadowTrails: true }))).trailList ?? [];
    } catch (error) {
      const message = `${region}: cannot read the trails (${awsErrorName(error) ?? "error"}: ${(error as Error).message.split("\n")[0]}); whether KMS events are recorded is unknown`;
      out.regions.push({ region, kmsReads: null, kmsWrites: null, trails: [], message });
      out.gaps.push(message);
      continue;
    }
    const covered: TrailCoverage[] = [];
    for (const trail of trails) {
      const home = trail.HomeRegion ?? region;
      const arn = trail.TrailARN ?? trail.Name ?? "?";
      const t: TrailCoverage = { name: trail.Name ?? arn, arn, homeRegion: home, logging: undefined, kmsReads: false, kmsWrites: false, bucket: trail.S3BucketName, prefix: trail.S3KeyPrefix, notes: [] };
      try {
        const client = cloudtrail(home);
        const [selectors, status] = await Promise.all([
          client.send(new GetEventSelectorsCommand({ TrailName: arn })),
          client.send(new GetTrailStatusCommand({ Name: arn })),
        ]);
        t.logging = status.IsLogging;
        const sel = { basic: selectors.EventSelectors ?? [], advanced: selectors.AdvancedEventSelectors ?? [] };
        const e = evaluateSelectors(sel);
        t.notes.push(...e.notes);
        if (t.logging === false) t.notes.push("logging is stopped");
        t.kmsReads = e.reads && t.logging !== false;
        t.kmsWrites = e.writes && t.logging !== false;
        if (writesOf.length) t.writes = Object.fromEntries(writesOf.map((s) => [s, evaluateSelectors(sel, s).writes && t.logging !== false]));
      } catch (error) {
        t.notes.push(`cannot read its selectors (${awsErrorName(error) ?? "error"})`);
      }
      covered.push(t);
    }
    const reads = covered.some((t) => t.kmsReads);
    const writes = covered.some((t) => t.kmsWrites);
    const history = source === "api" ? " CloudTrail's 90-day event history (the api source) still has management events." : "";
    let message: string;
    if (covered.length === 0) message = `${region}: NO trail records events here, so no archive holds KMS events.${history}`;
    else if (!reads && !writes)
      message = `${region}: KMS events are NOT recorded by any trail (${covered.map((t) => `${t.name}: ${t.notes.join("; ") || "no KMS events"}`).join(", ")}).${history}`;
    else if (!reads)
      message = `${region}: KMS data-plane events (Decrypt, GenerateDataKey, Encrypt, ReEncrypt, Sign) are NOT recorded by any trail (${covered.map((t) => `${t.name}: ${t.notes.join("; ")}`).join(", ")}): an empty answer does not mean unused.${history}`;
    else if (!writes) message = `${region}: KMS key management (ScheduleKeyDeletion, DisableKey, ...) is NOT recorded by any trail.${history}`;
    else message = `${region}: KMS events are recorded (trail ${covered.filter((t) => t.kmsReads).map((t) => t.name).join(", ")}).`;
    const rc: RegionCoverage = { region, kmsReads: reads, kmsWrites: writes, trails: covered, message };
    out.regions.push(rc);
    if (!reads || !writes) out.gaps.push(message);
  }
  return out;
}
