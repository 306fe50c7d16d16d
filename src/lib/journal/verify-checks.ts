// The checks `log verify` adds to the local hash chain: the journal against its write-once
// mirror (by default when the policy names one), and with --approvals the readable
// internkontroll.md against a fresh rendering of the JSONL.
import { lastSeal } from "./approver-registry.js";
import type { Context } from "../context.js";
import { usageError } from "../errors.js";
import type { Journal } from "./journal.js";
import { checkMarkdown, type MarkdownFinding } from "./markdown-check.js";
import type { MirrorFinding } from "./mirror.js";
import { journalSettings } from "../policy/authority.js";

export interface ExtraFindings {
  markdown: MarkdownFinding[];
  /** Undefined when the mirror was not compared (none configured, or --no-mirror). */
  mirror?: { url: string; findings: MirrorFinding[] } | undefined;
}

export async function extraChecks(ctx: Context, journal: Journal, options: { approvals: boolean; mirror?: boolean | undefined }): Promise<ExtraFindings> {
  const entries = journal.entries();
  const markdown = options.approvals ? checkMarkdown(journal.markdownFile, entries) : [];
  // The mirror as sealed, when the journal's last seal names one: removing it from the file does
  // not switch the comparison off.
  const sealed = lastSeal(entries)?.authority?.journal;
  const settings = sealed?.mirror ? sealed : journalSettings(ctx.policy);
  // The S3 client is loaded only when there is a mirror to compare with (`log verify` calls no AWS otherwise).
  const mirror = options.mirror === false || !settings.mirror ? undefined : (await import("./mirror.js")).mirrorFor(ctx, settings);
  if (options.mirror === true && !mirror) {
    throw usageError("--mirror: the policy names no journal mirror (journal.mirror: s3://BUCKET/PREFIX)", { code: "usage.no-mirror" });
  }
  if (!mirror) return { markdown };
  return { markdown, mirror: { url: mirror.url, findings: await mirror.compare(entries) } };
}

/** One line per finding, naming the entry and the kind of change. */
export function describeFindings(f: ExtraFindings): string[] {
  return [
    ...(f.mirror?.findings ?? []).map((m) => `${m.seq ? `entry #${m.seq}` : "mirror"}: ${m.kind}: ${m.message} (${f.mirror!.url})`),
    ...f.markdown.map((m) => `${m.seq ? `entry #${m.seq}` : "internkontroll.md"}: markdown ${m.kind}: ${m.message}`),
  ];
}
