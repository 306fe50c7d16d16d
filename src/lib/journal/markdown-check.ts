// internkontroll.md is what people read: it is re-rendered from the hash-chained JSONL and every
// difference is reported by entry, so an edited, removed or added paragraph cannot pass as true.
import { existsSync, readFileSync } from "node:fs";
import type { JournalEntry } from "./journal.js";
import { renderMarkdown } from "./markdown.js";

export interface MarkdownFinding {
  /** The entry whose rendering differs (0: the header). */
  seq: number;
  kind: "edited" | "missing" | "added";
  message: string;
}

const BLOCK = /^## #(\d+) /m;

/** Split a rendering into its header and one block per entry, keyed by seq. */
function blocks(text: string): { header: string; bySeq: Map<number, string[]> } {
  const parts = text.split(/(?=^## #\d+ )/m);
  const header = parts[0] !== undefined && !BLOCK.test(parts[0]) ? parts.shift()! : "";
  const bySeq = new Map<number, string[]>();
  for (const part of parts) {
    const seq = Number(BLOCK.exec(part)?.[1]);
    bySeq.set(seq, [...(bySeq.get(seq) ?? []), part]);
  }
  return { header, bySeq };
}

export function checkMarkdown(file: string, entries: JournalEntry[]): MarkdownFinding[] {
  if (entries.length === 0) return [];
  if (!existsSync(file)) return [{ seq: 0, kind: "missing", message: `${file} is missing: the readable journal was deleted` }];
  const expected = blocks(entries.map((e, i) => renderMarkdown(e, { header: i === 0 })).join(""));
  const actual = blocks(readFileSync(file, "utf8"));
  const findings: MarkdownFinding[] = [];
  if (expected.header !== actual.header) findings.push({ seq: 0, kind: "edited", message: "internkontroll.md: its header differs from the one dropkeys writes" });
  for (const e of entries) {
    const want = expected.bySeq.get(e.seq)![0]!;
    const got = actual.bySeq.get(e.seq);
    if (!got) findings.push({ seq: e.seq, kind: "missing", message: `internkontroll.md: entry #${e.seq} is missing from the readable journal` });
    else if (got.length > 1 || got[0] !== want) {
      findings.push({ seq: e.seq, kind: "edited", message: `internkontroll.md: entry #${e.seq} reads differently from the journal (${firstDifference(want, got[0]!)})` });
    }
  }
  for (const seq of actual.bySeq.keys()) {
    if (!expected.bySeq.has(seq)) findings.push({ seq, kind: "added", message: `internkontroll.md: a paragraph for entry #${seq} is not in the journal` });
  }
  return findings;
}

function firstDifference(want: string, got: string): string {
  const a = want.split("\n");
  const b = got.split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `line "${(a[i] ?? "").slice(0, 60)}" reads "${(b[i] ?? "(nothing)").slice(0, 60)}"`;
  }
  return "extra text";
}
