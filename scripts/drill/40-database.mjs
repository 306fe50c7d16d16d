// Drill stage: the Drop database. A small SQLite database with encrypted fødselsnummer envelopes
// (one KMS data key per user under drop-national-id-key), a GDPR erasure by crypto-shredding
// (one user, then a batch with a legal hold and an unknown id), and the compromise of
// drop-national-id-key: disable it, create the replacement, re-encrypt every envelope to the new
// key with the old one enabled for the run only.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { DescribeKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { approve, keyFile } from "./approvers.mjs";

const INCIDENT = "INC-DRILL-NID";
const KEY = "drop-national-id-key";
let requests = 0;

/** Request, signatures with ssh-keygen, then the command itself runs the signed request (its own summary and exit code). */
function signedRun(drill, args, approverNames, title, expect = [0]) {
  const request = path.join(drill.work, `db-request-${++requests}.json`);
  const asked = drill.step(`${title}: write the approval request`, [...args, "--request-out", request]);
  if (asked.status !== 0 || !existsSync(request)) return asked;
  const sigs = approverNames.flatMap((name) => {
    const copy = request.replace(/\.json$/, `.${name}.json`);
    copyFileSync(request, copy);
    console.log(`$ ssh-keygen -Y sign -n dropkeys-approval -f ${path.relative(drill.work, keyFile(drill, name))} ${path.basename(copy)}   # ${name}`);
    spawnSync("ssh-keygen", ["-q", "-Y", "sign", "-n", "dropkeys-approval", "-f", keyFile(drill, name), copy]);
    return ["--approval", `${copy}.sig`];
  });
  return drill.step(`${title}: run it with ${approverNames.join(" + ")}'s approval`, [args[0], ...args.slice(1), "--request", request, ...sigs], { expect });
}

export default async function databaseStage(drill) {
  drill.note(drill.bold("The Drop database: crypto-shredding (GDPR Art. 17) and re-encryption after a compromise"));
  // Every output of this stage is kept, to check at the end that no national ID was shown.
  const outputs = [];
  const step = drill.step;
  drill.step = (...args) => {
    const r = step(...args);
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  const dist = new URL("../../dist/lib/", import.meta.url);
  const { openDatabase } = await import(new URL("db/index.js", dist).href);
  const { seedDropDatabase, dropDatabaseSection } = await import(new URL("envelope/seed.js", dist).href);
  const kms = new KMSClient({ region: "eu-north-1", endpoint: drill.emulators.kmsUrls["eu-north-1"], credentials: { accessKeyId: "test", secretAccessKey: "test" } });

  const db = await openDatabase(`sqlite:${path.join(drill.work, "drop.db")}`, { create: true });
  const seeded = await seedDropDatabase(db, { layout: "combined", kms, keyId: `alias/${KEY}`, users: 20, createSchema: true, transactionsPerUser: 3 });
  await db.execute("INSERT INTO legal_holds (user_id, reason) VALUES (?, ?)", [3, "Økokrim case 2026-114: keep until released"]);
  await db.close();
  drill.policy.database = dropDatabaseSection("combined", "sqlite:drop.db");
  drill.writePolicy();
  drill.step("The database mapping is sealed policy: until the change is approved, nothing runs (exit 3)", ["shred-user", "7", "--reason", "DSR-2026-0007", "--dry-run"], { expect: [3] });
  approve(drill, ["policy", "seal", "--reason", "map the Drop database"], ["alem", "alice"], { title: "Seal the database mapping (approved under the previous seal)" });
  drill.note(`drop.db: 20 users with encrypted fødselsnummer envelopes under ${KEY}, 3 AML transactions each, a legal hold on user 3.`);

  drill.step("What erasing user 7 would do (dry run)", ["shred-user", "7", "--reason", "DSR-2026-0007", "--dry-run"]);
  signedRun(drill, ["shred-user", "7", "--reason", "DSR-2026-0007 (erasure request by e-mail)"], ["alice"], "Erase user 7 (the DPO approves)");
  drill.step("Erasing user 7 again: already erased, nothing to approve", ["shred-user", "7", "--reason", "DSR-2026-0007 (repeated)"]);
  const batch = path.join(drill.work, "erasures.txt");
  writeFileSync(batch, "# erasure requests, November\n3\n11\n12\n4711\n");
  signedRun(drill, ["shred-user", "--from-file", "erasures.txt", "--reason", "DSR batch 2026-11"], ["alice"], "A batch: user 3 is under legal hold, 4711 does not exist (exit 1)", [1]);

  drill.note(drill.bold(`A compromise of ${KEY}: disable it, create the replacement, re-encrypt every envelope (L4 first).`));
  const oldKeyId = (await kms.send(new DescribeKeyCommand({ KeyId: `alias/${KEY}` }))).KeyMetadata.KeyId;
  approve(drill, ["disable", KEY, "--reason", "drop-app-runner credentials leaked", "--incident", INCIDENT], ["alem"], { title: `Disable ${KEY} (the CISO alone, emergency)` });
  approve(drill, ["generate", KEY, "--move-alias", "--reason", `replacement after ${INCIDENT}`, "--incident", INCIDENT], ["alice", "alem"], { title: "Create the replacement key and move the alias" });
  drill.step("Re-encrypting from the disabled key: the preflight says why it cannot (exit 1)", ["reencrypt", "--from", oldKeyId, "--to", KEY, "--reason", `${INCIDENT} step 5`, "--incident", INCIDENT], { expect: [1] });
  signedRun(
    drill,
    ["reencrypt", "--from", oldKeyId, "--to", KEY, "--reenable-source", "--reason", `${INCIDENT} step 5: re-encrypt the fødselsnummer envelopes`, "--incident", INCIDENT],
    ["alice", "alem"],
    "Re-encrypt with the old key enabled for the run only (drop-key-admin + CISO)",
  );
  const state = (await kms.send(new DescribeKeyCommand({ KeyId: oldKeyId }))).KeyMetadata.KeyState;
  drill.note(`The old key ${oldKeyId} is ${state} again.`);
  if (state !== "Disabled") drill.fail(`the old key was left ${state}`);

  drill.step = step;

  // The tool never shows a national ID: check this stage's output and the journal for the seeded values.
  const journal = ["internkontroll.jsonl", "internkontroll.md"].map((f) => readFileSync(path.join(drill.work, "legal", f), "utf8"));
  const text = [...outputs, ...journal].join("\n");
  const leaked = [...seeded.nationalIds.values()].filter((fnr) => text.includes(fnr));
  if (leaked.length) drill.fail(`${leaked.length} national ID(s) found in the output or the journal`);
  else drill.note("No fødselsnummer appears in any output of this stage or in the journal.");
}
