// Which keys the audit is about. CloudTrail names keys by ARN only (an alias is not in the
// events), so inventory names are resolved to ARNs with KMS DescribeKey alias/NAME in each key's
// region, and the journal adds the earlier keys of a name (an alias moved to a replacement). A key
// that cannot be resolved is matched only by an ARN given on the command line.
import { DescribeKeyCommand, type KMSClient } from "@aws-sdk/client-kms";
import { awsErrorName, usageError } from "../errors.js";
import type { KmsKeyEntry, Policy } from "../policy/schema.js";
import type { AliasTarget } from "./types.js";

const KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/[A-Za-z0-9-]+$/;

export interface KeyInfo {
  arn: string;
  region: string;
  /** The inventory entry, when the ARN belongs to one. */
  entry?: KmsKeyEntry;
  /** Inventory name, else the ARN. */
  label: string;
}

export interface AuditScope {
  /** ARN -> key; empty with `all`. */
  keys: Map<string, KeyInfo>;
  /** Every KMS key in the logs (--all-keys); inventory keys that resolved are still named. */
  all: boolean;
  /** Inventory names that could not be resolved, and why. */
  unresolved: { name: string; region: string; reason: string }[];
  /** Regions whose events matter (keys' regions). */
  regions: string[];
  /** Whether --key narrowed the scope (then failures naming no key are out of scope). */
  narrowed: boolean;
  /**
   * Inventory name -> the keys its alias named, oldest first (from the journal's times; the key
   * KMS resolves today last): records that name a key only as alias/NAME are resolved by it.
   */
  aliases: Record<string, AliasTarget[]>;
}

export interface ScopeRequest {
  keys: string[];
  allKeys: boolean;
  /**
   * Key ARNs the journal recorded for inventory names (generate, disable, schedule-deletion...):
   * after a replacement the alias names the new key, but the audit must still cover the old one.
   */
  history?: { name: string; arn: string; since?: number }[];
}

/** The kms-key targets of journal entries, for ScopeRequest.history; `since`: the ARN's first entry. */
export function journalHistory(entries: { time?: string; target?: { name?: string; arn?: string; kind?: string } | undefined }[]): { name: string; arn: string; since: number }[] {
  const seen = new Map<string, { name: string; since: number }>();
  for (const e of entries) {
    const t = e.target;
    if (t?.kind !== "kms-key" || !t.name || !t.arn || !KEY_ARN.test(t.arn)) continue;
    const time = e.time ? Date.parse(e.time) : NaN;
    const before = seen.get(t.arn);
    seen.set(t.arn, { name: t.name, since: Math.min(before?.since ?? Infinity, Number.isNaN(time) ? Infinity : time) });
  }
  return [...seen].map(([arn, v]) => ({ name: v.name, arn, since: Number.isFinite(v.since) ? v.since : 0 }));
}

/** Each inventory name's keys in the order the alias named them: the journal's, then today's. */
function aliasTimeline(byArn: Map<string, KeyInfo>, history: { name: string; arn: string; since?: number }[], current: Map<string, string>): Record<string, AliasTarget[]> {
  const out: Record<string, AliasTarget[]> = {};
  for (const info of byArn.values()) {
    const name = info.entry?.name;
    if (!name) continue;
    const fromJournal = history.find((h) => h.arn === info.arn && h.name === name)?.since;
    (out[name] ??= []).push({ arn: info.arn, from: fromJournal ?? 0 });
  }
  for (const [name, targets] of Object.entries(out)) {
    targets.sort((a, b) => a.from - b.from);
    // Today's key without a journal entry: it follows every earlier key.
    const now = current.get(name);
    const i = targets.findIndex((t) => t.arn === now);
    if (i >= 0 && !history.some((h) => h.arn === now)) {
      const [t] = targets.splice(i, 1);
      targets.push({ arn: t!.arn, from: targets.length ? targets[targets.length - 1]!.from + 1 : 0 });
    }
  }
  return out;
}

export function regionOfEntry(policy: Policy, entry: KmsKeyEntry): string {
  return entry.region ?? policy.region;
}

/** Resolve --key NAME|ARN (default: every KMS key of the inventory) to ARNs. */
export async function resolveScope(policy: Policy, request: ScopeRequest, kms: (region: string) => KMSClient): Promise<AuditScope> {
  const inventory = policy.inventory.filter((e): e is KmsKeyEntry => e.kind === "kms-key");
  const wantedEntries: KmsKeyEntry[] = [];
  const givenArns: string[] = [];
  for (const raw of request.keys) {
    const text = raw.startsWith("alias/") ? raw.slice("alias/".length) : raw;
    if (KEY_ARN.test(text)) {
      givenArns.push(text);
      continue;
    }
    const entry = inventory.find((e) => e.name === text);
    if (!entry) {
      const known = inventory.map((e) => e.name).join(", ");
      throw usageError(`--key ${raw}: not a KMS key of the inventory and not a key ARN`, {
        code: "audit.key",
        hint: `Use an inventory name (${known}) or a full ARN arn:aws:kms:REGION:ACCOUNT:key/ID.`,
      });
    }
    wantedEntries.push(entry);
  }
  const narrowed = request.keys.length > 0;
  // Resolve the whole inventory even when --key narrows: an ARN given is then still named.
  const resolved = await Promise.all(inventory.map((entry) => resolveEntry(policy, entry, kms)));
  const scope: AuditScope = { keys: new Map(), all: request.allKeys, unresolved: [], regions: [], narrowed, aliases: {} };
  const byArn = new Map<string, KeyInfo>();
  const unresolved = new Map<KmsKeyEntry, { name: string; region: string; reason: string }>();
  for (const r of resolved) {
    if ("arn" in r) byArn.set(r.arn, r);
    else unresolved.set(r.entry, { name: r.entry.name, region: r.region, reason: r.reason });
  }
  for (const h of request.history ?? []) {
    const entry = inventory.find((e) => e.name === h.name);
    if (!entry || byArn.has(h.arn)) continue;
    const current = [...byArn.values()].some((k) => k.entry === entry);
    byArn.set(h.arn, { arn: h.arn, region: KEY_ARN.exec(h.arn)![1]!, entry, label: current ? `${entry.name} (earlier key)` : entry.name });
    unresolved.delete(entry);
  }
  const current = new Map(resolved.flatMap((r) => ("arn" in r && r.entry ? [[r.entry.name, r.arn] as [string, string]] : [])));
  scope.aliases = aliasTimeline(byArn, request.history ?? [], current);
  for (const [entry, u] of unresolved) if (!narrowed || wantedEntries.includes(entry)) scope.unresolved.push(u);
  if (narrowed) {
    for (const entry of wantedEntries) {
      for (const info of byArn.values()) if (info.entry === entry) scope.keys.set(info.arn, info);
    }
    for (const arn of givenArns) {
      const region = KEY_ARN.exec(arn)![1]!;
      scope.keys.set(arn, byArn.get(arn) ?? { arn, region, label: arn });
    }
  } else {
    for (const [arn, info] of byArn) scope.keys.set(arn, info);
  }
  const regions = new Set<string>([...scope.keys.values()].map((k) => k.region));
  for (const u of scope.unresolved) regions.add(u.region);
  if (scope.all || regions.size === 0) for (const entry of inventory) regions.add(regionOfEntry(policy, entry));
  if (regions.size === 0) regions.add(policy.region);
  scope.regions = [...regions].sort();
  return scope;
}

async function resolveEntry(
  policy: Policy,
  entry: KmsKeyEntry,
  kms: (region: string) => KMSClient,
): Promise<KeyInfo | { entry: KmsKeyEntry; region: string; reason: string }> {
  const region = regionOfEntry(policy, entry);
  try {
    const out = await kms(region).send(new DescribeKeyCommand({ KeyId: `alias/${entry.name}` }));
    const arn = out.KeyMetadata?.Arn;
    if (arn) return { arn, region, entry, label: entry.name };
    return { entry, region, reason: "DescribeKey returned no ARN" };
  } catch (error) {
    const name = awsErrorName(error);
    const reason =
      name === "NotFoundException"
        ? `alias/${entry.name} does not exist in ${region}`
        : `DescribeKey alias/${entry.name} in ${region} failed (${name ?? "error"}: ${(error as Error).message.split("\n")[0]})`;
    return { entry, region, reason };
  }
}

/** The key an event is about, for reports: inventory name or ARN. */
export function labelOf(scope: AuditScope, arn: string): string {
  return scope.keys.get(arn)?.label ?? arn;
}
