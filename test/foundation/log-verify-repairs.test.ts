// A journal repair (head or markdown rewritten from the JSONL, a cut-off entry removed) is what a
// crash leaves, and also what someone editing the journal directory can make happen. Plain
// `log verify` lists repairs and passes; `log verify --approvals` lists each as a finding (exit 1)
// so a person looks at what stopped that write.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Journal, type JournalRecord } from "../../src/lib/journal/journal.js";
import { runCli } from "../support/cli.js";

const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-repairs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const actor = { aws: "arn:aws:iam::123456789012:user/test", osUser: "test", host: hostname() };
const event = (i: number): JournalRecord => ({ type: "event", operation: "incident-step", actor, reason: `step ${i}` });

describe("log verify and journal repairs", () => {
  it("lists a repair as information, and under --approvals as a finding naming the repair entry (exit 1)", async () => {
    const journal = new Journal(dir);
    const entries = [1, 2, 3].map((i) => journal.append(event(i)));
    // The head left behind entry #3, as a write stopped between the JSONL and the head leaves it.
    writeFileSync(path.join(dir, "internkontroll.head"), JSON.stringify({ seq: 2, hash: entries[1]!.hash }) + "\n");
    new Journal(dir).append(event(4)); // repairs first: entry #4 is the repair event
    expect(JSON.parse(readFileSync(path.join(dir, "internkontroll.jsonl"), "utf8").split("\n")[3]!)).toMatchObject({ seq: 4, operation: "journal-repair" });

    const plain = await runCli(["log", "verify", "--journal", dir]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/repaired: #4 .*interrupted write repaired/);

    const strict = await runCli(["log", "verify", "--approvals", "--journal", dir]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/entry #4 .*a repair of the journal files/);
  });
});
