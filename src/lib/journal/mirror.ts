// The journal's write-once copy (POLICY.md §8: append-only, immutable, 5 years; "the model is
// CloudTrail in S3"): an S3 bucket with versioning and Object Lock in COMPLIANCE mode, named by
// the sealed policy (`journal.mirror: s3://BUCKET/PREFIX`). Every entry is its own object,
// PREFIX/<journal id>/<seq>.json, written before the AWS call its intent announces. The person
// who runs dropkeys can rewrite the local journal but not this: a local journal that is behind
// or differs from its mirror stops every operation (exit 5), and `log verify` names each
// difference, a second version or a delete marker of an entry's object included.
import { createHash } from "node:crypto";
import { GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Context } from "../context.js";
import { awsErrorName, journalError } from "../errors.js";
import { journalSettings } from "../policy/authority.js";
import type { JournalEntry } from "./journal.js";

const DAY_MS = 86_400_000;

export interface MirroredObject {
  journalId: string;
  seq: number;
  key: string;
  /** Every version, newest first; the newest is what a reader gets. */
  versions: { versionId: string; etag: string; lastModified?: Date | undefined }[];
  /** Delete markers on the key (any one is a finding: entries are never deleted). */
  deleteMarkers: number;
  /** Whether the newest thing on the key is a delete marker. */
  deleted: boolean;
}

/** journal id -> seq -> object. */
export type MirrorListing = Map<string, Map<number, MirroredObject>>;

export interface MirrorFinding {
  /** The entry concerned (0: the journal as a whole). */
  seq: number;
  kind: "missing" | "changed" | "truncated" | "rewritten" | "second-genesis" | "overwritten" | "deleted" | "unreadable";
  message: string;
}

/** The bytes an entry is mirrored as: the journal line itself. */
export function entryBody(entry: JournalEntry): string {
  return JSON.stringify(entry) + "\n";
}

function md5(text: string): string {
  return createHash("md5").update(text).digest("hex");
}

export function parseMirrorUrl(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw journalError(`"${url}" is not an s3://BUCKET/PREFIX address`, { code: "journal.mirror-url" });
  const prefix = m[2]!.replace(/\/+$/, "");
  return { bucket: m[1]!, prefix: prefix ? `${prefix}/` : "" };
}

export class JournalMirror {
  readonly bucket: string;
  readonly prefix: string;

  constructor(
    private readonly s3: S3Client,
    readonly url: string,
    private readonly retentionDays: number,
  ) {
    ({ bucket: this.bucket, prefix: this.prefix } = parseMirrorUrl(url));
  }

  keyOf(journalId: string, seq: number): string {
    return `${this.prefix}${journalId}/${String(seq).padStart(10, "0")}.json`;
  }

  /** Every object version and delete marker under the prefix, grouped by journal and entry. */
  async listing(): Promise<MirrorListing> {
    const out: MirrorListing = new Map();
    const at = (key: string): MirroredObject | undefined => {
      const m = /^([0-9a-f]{64})\/(\d{10})\.json$/.exec(key.slice(this.prefix.length));
      if (!m) return undefined;
      const [, id, seqText] = m;
      let journal = out.get(id!);
      if (!journal) out.set(id!, (journal = new Map()));
      const seq = Number(seqText);
      let object = journal.get(seq);
      if (!object) journal.set(seq, (object = { journalId: id!, seq, key, versions: [], deleteMarkers: 0, deleted: false }));
      return object;
    };
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const page = await this.call("list", () =>
        this.s3.send(new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: this.prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker })),
      );
      for (const v of page.Versions ?? []) {
        const object = at(v.Key ?? "");
        if (!object) continue;
        const version = { versionId: v.VersionId ?? "null", etag: (v.ETag ?? "").replace(/"/g, ""), lastModified: v.LastModified };
        if (v.IsLatest) object.versions.unshift(version);
        else object.versions.push(version);
      }
      for (const d of page.DeleteMarkers ?? []) {
        const object = at(d.Key ?? "");
        if (!object) continue;
        object.deleteMarkers++;
        if (d.IsLatest) object.deleted = true;
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker);
    return out;
  }

  async journalIds(): Promise<string[]> {
    return [...(await this.listing()).keys()];
  }

  /** Write one entry, locked in COMPLIANCE mode for the policy's retention. */
  async put(journalId: string, entry: JournalEntry): Promise<void> {
    const body = entryBody(entry);
    await this.call("write", () =>
      this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.keyOf(journalId, entry.seq),
          Body: body,
          ContentType: "application/json",
          ContentMD5: createHash("md5").update(body).digest("base64"),
          ObjectLockMode: "COMPLIANCE",
          ObjectLockRetainUntilDate: new Date(Date.now() + this.retentionDays * DAY_MS),
          Metadata: { "entry-hash": entry.hash },
        }),
      ),
    );
  }

  /** One mirrored entry (the newest version, or the one named). */
  async get(journalId: string, seq: number, versionId?: string): Promise<JournalEntry> {
    const out = await this.call("read", () =>
      this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(journalId, seq), ...(versionId ? { VersionId: versionId } : {}) })),
    );
    const text = (await out.Body?.transformToString("utf8")) ?? "";
    try {
      return JSON.parse(text) as JournalEntry;
    } catch {
      throw journalError(`the mirrored entry #${seq} (${this.keyOf(journalId, seq)}) is not a journal entry`, { code: "journal.mirror-corrupt" });
    }
  }

  /**
   * Before any operation: the local journal must be its mirror's journal, no shorter, and equal
   * entry by entry (exit 5 naming the first entry that differs). Then whatever the mirror lacks
   * (an emergency disable that went on without it) is written, oldest first.
   */
  async reconcile(entries: JournalEntry[]): Promise<{ pushed: number }> {
    const id = entries[0]?.hash;
    if (!id) return { pushed: 0 };
    const listing = await this.listing();
    const mine = listing.get(id);
    if (!mine) {
      const other = [...listing.keys()][0];
      if (other) {
        throw disagree(`the mirror ${this.url} holds journal ${other.slice(0, 16)}…, not this one (${id.slice(0, 16)}…): entry #1 differs (a rewritten or replaced journal)`, 1);
      }
    }
    const mirrored = mine ?? new Map<number, MirroredObject>();
    for (const entry of entries) {
      const object = mirrored.get(entry.seq);
      if (object && !object.deleted && object.versions[0] && object.versions[0].etag !== md5(entryBody(entry))) {
        throw disagree(`local entry #${entry.seq} differs from its copy in the mirror ${this.url}: the local journal was rewritten or restored from another copy`, entry.seq);
      }
    }
    const last = entries[entries.length - 1]!.seq;
    const beyond = [...mirrored.keys()].filter((seq) => seq > last).sort((a, b) => a - b);
    if (beyond.length > 0) {
      throw disagree(
        `the local journal ends at entry #${last}, but its mirror ${this.url} holds entries up to #${beyond[beyond.length - 1]}: entry #${last + 1} is missing here (a truncated journal or an old copy)`,
        last + 1,
      );
    }
    let pushed = 0;
    for (const entry of entries) {
      const object = mirrored.get(entry.seq);
      if (object && !object.deleted && object.versions.length > 0) continue;
      await this.put(id, entry);
      pushed++;
    }
    return { pushed };
  }

  /** Write the entries after `afterSeq` (the ones this run appended). */
  async push(entries: JournalEntry[], afterSeq: number): Promise<void> {
    const id = entries[0]?.hash;
    if (!id) return;
    for (const entry of entries) if (entry.seq > afterSeq) await this.put(id, entry);
  }

  /** `log verify --mirror`: every difference between the local journal and the mirror. */
  async compare(entries: JournalEntry[]): Promise<MirrorFinding[]> {
    const findings: MirrorFinding[] = [];
    const listing = await this.listing();
    const id = entries[0]?.hash;
    const mine = id ? listing.get(id) : undefined;
    for (const [other, objects] of listing) {
      if (other === id) continue;
      findings.push({
        seq: id && !mine ? 1 : 0,
        kind: id && !mine ? "rewritten" : "second-genesis",
        message:
          id && !mine
            ? `entry #1: the local journal (${id.slice(0, 16)}…) is not the mirror's journal ${other.slice(0, 16)}… (${objects.size} entries): the chain was rewritten from its first entry`
            : `a second journal (genesis ${other.slice(0, 16)}…, ${objects.size} entries) lies under the same mirror prefix`,
      });
    }
    if (!id) return findings;
    const mirrored = mine ?? new Map<number, MirroredObject>();
    let firstChanged: number | undefined;
    for (const entry of entries) {
      const object = mirrored.get(entry.seq);
      if (!object || object.versions.length === 0) {
        findings.push({ seq: entry.seq, kind: "missing", message: `entry #${entry.seq} is not in the mirror` });
        continue;
      }
      if (object.versions[0]!.etag !== md5(entryBody(entry)) || object.deleted) {
        if (object.deleted) continue; // reported below
        firstChanged ??= entry.seq;
        findings.push({
          seq: entry.seq,
          kind: firstChanged === entry.seq ? "changed" : "rewritten",
          message:
            firstChanged === entry.seq
              ? `entry #${entry.seq} differs from its mirrored copy (the local entry was changed)`
              : `entry #${entry.seq} differs from its mirrored copy too (the chain was rewritten from #${firstChanged})`,
        });
      }
    }
    const last = entries[entries.length - 1]!.seq;
    const beyond = [...mirrored.keys()].filter((seq) => seq > last).sort((a, b) => a - b);
    if (beyond.length > 0) {
      findings.push({
        seq: last + 1,
        kind: "truncated",
        message: `the local journal ends at entry #${last}, but the mirror holds entries #${beyond[0]}-#${beyond[beyond.length - 1]}: entries were removed from the end`,
      });
    }
    for (const object of [...mirrored.values()].sort((a, b) => a.seq - b.seq)) {
      if (object.versions.length > 1) {
        findings.push({ seq: object.seq, kind: "overwritten", message: `entry #${object.seq} has ${object.versions.length} versions in the mirror: it was written over` });
      }
      if (object.deleteMarkers > 0) {
        findings.push({ seq: object.seq, kind: "deleted", message: `entry #${object.seq} has a delete marker in the mirror: someone tried to delete it` });
      }
    }
    return findings;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw journalError(`cannot ${what} the journal mirror ${this.url}: ${awsErrorName(error) ?? (error as Error).message}`, {
        code: "journal.mirror-unavailable",
        hint: "Nothing was done. Check access to the mirror bucket (s3:PutObject, s3:ListBucketVersions, s3:GetObject) and the endpoint.",
        cause: error,
      });
    }
  }
}

function disagree(message: string, seq: number) {
  return journalError(message, {
    code: "journal.mirror-disagrees",
    hint: "Nothing was done. Restore the journal from its mirror (see README, Trust model) and run `dropkeys log verify` for every difference.",
    details: { entry: seq },
  });
}

/** A policy that pins its journal id runs only with that journal (exit 5 otherwise). */
export function checkPinnedJournal(pinnedId: string | undefined, entries: JournalEntry[]): void {
  const id = entries[0]?.hash;
  if (!pinnedId || !id || pinnedId === id) return;
  throw disagree(`the local journal is ${id.slice(0, 16)}…, but the policy pins journal ${pinnedId.slice(0, 16)}…: entry #1 differs`, 1);
}

/** The mirror the policy names, or undefined when it names none. */
export function mirrorFor(ctx: Context, settings = journalSettings(ctx.policy)): JournalMirror | undefined {
  if (!settings.mirror) return undefined;
  return new JournalMirror(ctx.aws.s3(ctx.policy.region), settings.mirror, settings.retentionDays);
}

/**
 * Write what the local journal holds and the mirror lacks, now: the steps journalled outside the
 * pipeline (reencrypt's source-key steps, rotate-jwt --finish, grant retirement) call it after
 * their intent and before the AWS call it announces. Without a mirror, nothing.
 */
export async function mirrorNow(ctx: Context): Promise<void> {
  const mirror = mirrorFor(ctx);
  if (mirror) await mirror.reconcile(ctx.journal().entries());
}

/**
 * Every entry of one journal as its mirror holds it, in seq order (the newest version of each
 * object): what a reconciliation reads instead of a local journal someone could rewrite.
 * Without `journalId`, the mirror must hold exactly one journal.
 */
export async function listMirrorEntries(mirror: JournalMirror, journalId?: string): Promise<JournalEntry[]> {
  const listing = await mirror.listing();
  const id = journalId ?? [...listing.keys()][0];
  if (!journalId && listing.size > 1) {
    throw journalError(`the mirror ${mirror.url} holds ${listing.size} journals: name the one to read`, { code: "journal.mirror-ambiguous" });
  }
  const objects = id ? listing.get(id) : undefined;
  if (!objects) return [];
  const seqs = [...objects.values()].filter((o) => !o.deleted && o.versions.length > 0).map((o) => o.seq).sort((a, b) => a - b);
  const out: JournalEntry[] = [];
  for (const seq of seqs) out.push(await mirror.get(id!, seq));
  return out;
}
