// Where an audit reads the journal from. The local journal is written by whoever runs dropkeys,
// so a person who changed a key around dropkeys could also write an entry that explains it; the
// WORM mirror (S3 Object Lock) cannot be rewritten. An audit therefore reads the mirror where the
// policy configures one and only compares the local copy with it.
import { lastSeal } from "./approver-registry.js";
import type { Context } from "../context.js";
import { usageError } from "../errors.js";
import type { Journal, JournalEntry } from "./journal.js";
import { listMirrorEntries, mirrorFor } from "./mirror.js";

export interface JournalSource {
  kind: "local" | "mirror";
  /** Where it is (a directory, an s3:// URL), for reports. */
  location: string;
  /** Every entry, in seq order. */
  entries(): Promise<JournalEntry[]>;
  /**
   * A mirror's: when it stored each entry (seq -> epoch ms), filled by entries(). dropkeys writes
   * an intent there before its AWS call; one stored later was caught up from the local journal.
   */
  storedAt?: Map<number, number>;
}

export function localJournalSource(journal: Journal): JournalSource {
  return { kind: "local", location: journal.file, entries: async () => journal.entries() };
}

/**
 * The journal's WORM mirror as a source: the one the last seal names (as `log verify` reads it:
 * an edited policy file cannot point the audit at another bucket), else the policy file's; the
 * journal read is the local one's (its id = the hash of entry #1). Undefined without a mirror.
 */
export function mirrorJournalSource(ctx: Context, local: Journal): JournalSource | undefined {
  const localEntries = local.entries();
  const sealed = lastSeal(localEntries)?.authority?.journal;
  const mirror = mirrorFor(ctx, sealed?.mirror ? sealed : undefined);
  if (!mirror) return undefined;
  const id = localEntries[0]?.hash;
  const storedAt = new Map<number, number>();
  const entries = async () => {
    const read = await listMirrorEntries(mirror, id);
    for (const object of id ? ((await mirror.listing()).get(id)?.values() ?? []) : []) {
      const at = object.versions[0]?.lastModified?.getTime();
      if (at !== undefined) storedAt.set(object.seq, at);
    }
    return read;
  };
  return { kind: "mirror", location: mirror.url, entries, storedAt };
}

/**
 * `--journal-source local|mirror`, default the mirror when there is one. `mirror` is the reader of
 * the policy's journal mirror, undefined when the policy configures none.
 */
export function chooseJournalSource(requested: string | undefined, local: JournalSource, mirror: JournalSource | undefined): JournalSource {
  if (requested !== undefined && requested !== "local" && requested !== "mirror") throw usageError(`--journal-source: expected local or mirror, got "${requested}"`);
  if (requested === "local") return local;
  if (requested === "mirror" && !mirror) {
    throw usageError("--journal-source mirror: the policy configures no journal mirror", {
      code: "journal.no-mirror",
      hint: "Configure the journal's WORM mirror in the policy (journal.mirror), or read the local journal with --journal-source local.",
    });
  }
  return mirror ?? local;
}

/** Where the local journal departs from the mirror: entries missing, added or different (by seq and hash). */
export function compareWithMirror(mirror: JournalEntry[], local: JournalEntry[]): string[] {
  const differences: string[] = [];
  const bySeq = new Map(local.map((e) => [e.seq, e]));
  for (const m of mirror) {
    const l = bySeq.get(m.seq);
    if (!l) differences.push(`entry ${m.seq} (${m.operation}) is in the mirror but not in the local journal`);
    else if (l.hash !== m.hash) differences.push(`entry ${m.seq} differs: local ${l.operation} ${l.hash.slice(0, 12)}, mirror ${m.operation} ${m.hash.slice(0, 12)}`);
    bySeq.delete(m.seq);
  }
  for (const l of bySeq.values()) differences.push(`entry ${l.seq} (${l.type} ${l.operation}${l.requestId ? ` ${l.requestId}` : ""}) is only in the local journal`);
  return differences;
}
