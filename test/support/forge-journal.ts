// What an insider who can write the journal directory does: entries re-chained from the first one
// changed, and a head to match, so the local journal alone looks intact.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { entryHash, GENESIS, HEAD_FILE, JOURNAL_FILE, type JournalEntry } from "../../src/lib/journal/journal.js";

export function writeJournal(journalDir: string, entries: JournalEntry[]): void {
  let prev = GENESIS;
  const out = entries.map((e, i) => {
    const { hash: _old, ...body } = { ...e, seq: i + 1, prev };
    const hash = entryHash(body);
    prev = hash;
    return { ...body, hash } as JournalEntry;
  });
  writeFileSync(path.join(journalDir, JOURNAL_FILE), out.map((e) => JSON.stringify(e) + "\n").join(""));
  const last = out[out.length - 1]!;
  writeFileSync(path.join(journalDir, HEAD_FILE), JSON.stringify({ seq: last.seq, hash: last.hash }) + "\n");
}
