// Appends N entries to a journal from a separate process (the cross-process lock test).
// Runs the built journal module: `npm test` builds dist/ before the tests.
import { Journal } from "../../dist/lib/journal/journal.js";

const [dir, count, label] = process.argv.slice(2);
const journal = new Journal(dir, { lockTimeoutMs: 30_000 });
for (let i = 0; i < Number(count); i++) {
  journal.append({ type: "event", operation: "test", actor: { aws: label, osUser: "t", host: "h" }, params: { i } });
}
