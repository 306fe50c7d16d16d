// Drill stage: a change around dropkeys. Someone with the same AWS credentials disables
// drop-db-master-key with the AWS SDK directly; `status` and `audit-changes` both name it, while
// every approved operation of the earlier stages matches its journal entry. The emulators record
// no CloudTrail events, so the archive is written from the journal and this stage's SDK call.
import { DescribeKeyCommand, DisableKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import path from "node:path";
import { changeRecord, identityFor, readJournal, recordsFromJournal, writeArchive } from "../cloudtrail-synth.mjs";

const KEY = "drop-db-master-key";

export default async function changesStage(drill) {
  drill.note(drill.bold("Around dropkeys: a key disabled with the AWS SDK directly"));
  const kms = new KMSClient({ region: "eu-north-1", endpoint: drill.emulators.kmsUrls["eu-north-1"], credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
  const key = (await kms.send(new DescribeKeyCommand({ KeyId: `alias/${KEY}` }))).KeyMetadata;
  const at = Date.now();
  await kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
  drill.note(`$ aws kms disable-key --key-id ${key.KeyId}   # by role drop-key-admin, session "weekend-fix": no request, no approval, no journal entry`);
  drill.step("status names it: changed outside dropkeys", ["status"], { expect: [4] });

  const archive = path.join(drill.work, "cloudtrail-changes");
  const outside = changeRecord({ name: "DisableKey", time: new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z"), identity: identityFor(`arn:aws:sts::${key.Arn.split(":")[4]}:assumed-role/drop-key-admin/weekend-fix`), keyArn: key.Arn });
  writeArchive(archive, [...recordsFromJournal(readJournal(path.join(drill.work, "legal"))), outside]);
  drill.note(`CloudTrail's records of the drill (from the journal) and of that SDK call: ${path.relative(drill.work, archive)}/`);
  const r = drill.step("audit-changes: every approved operation matches; the SDK call does not", ["audit-changes", "--source", archive, "--since", "2h", "--no-coverage"], { expect: [4] });
  if (!r.stdout.includes(outside.eventID) || !/1 outside dropkeys/.test(r.stdout)) drill.fail("audit-changes did not name exactly the change made outside dropkeys");
}
