// reencrypt throughput against the KMS emulator: N envelopes (default 20,000) on SQLite,
// re-wrapped old -> new at concurrency 1 (the baseline, measured in the same run), then new ->
// old at concurrency 8 (the same work in the other direction), and the ratio. Every row is a
// real KMS ReEncrypt and a compare-and-set UPDATE; peak RSS shows memory staying flat.
//   BENCH_REENCRYPT_RECORDS=2000 node scripts/bench-reencrypt.mjs   (a quicker run)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setInterval, clearInterval } from "node:timers";
import { KMSClient, CreateKeyCommand, GenerateDataKeyWithoutPlaintextCommand, ReEncryptCommand } from "@aws-sdk/client-kms";
import { startEmulators } from "./aws-emulators.mjs";

const dist = new URL("../dist/lib/", import.meta.url);
const { openDatabase } = await import(new URL("db/index.js", dist).href);
const { seedDropDatabase, dropSection } = await import(new URL("envelope/seed.js", dist).href);
const { reencrypt, totals, verifySample } = await import(new URL("reencrypt/engine.js", dist).href);
const { reencryptTables } = await import(new URL("policy/database-section.js", dist).href);
const { measureWrappedDekBytes } = await import(new URL("envelope/index.js", dist).href);

const RECORDS = Number(process.env.BENCH_REENCRYPT_RECORDS ?? 20_000);
const work = mkdtempSync(path.join(tmpdir(), "dropkeys-bench-reenc-"));
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

const emulators = await startEmulators({ logDir: path.join(work, "logs") });
try {
  const kms = new KMSClient({ region: "eu-north-1", endpoint: emulators.kmsUrls["eu-north-1"], credentials: { accessKeyId: "test", secretAccessKey: "test" } });
  const key = async () => {
    const m = (await kms.send(new CreateKeyCommand({ Description: "bench" }))).KeyMetadata;
    return { keyId: m.KeyId, arn: m.Arn };
  };
  const [a, b] = [await key(), await key()];
  const db = await openDatabase(`sqlite:${path.join(work, "drop.db")}`, { create: true });
  await seedDropDatabase(db, { layout: "combined", kms, keyId: a.keyId, users: RECORDS, createSchema: true, dataKeys: 64, transactionsPerUser: 0 });
  const tables = reencryptTables(dropSection("combined"));
  const wrappedDekBytes = await measureWrappedDekBytes(kms, b.arn);
  console.log(`reencrypt: ${RECORDS} envelopes on SQLite against the KMS emulator (wrapped DEK ${wrappedDekBytes} bytes)`);

  const run = async (from, to, concurrency) => {
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const started = performance.now();
    const result = await reencrypt({ db, tables, kms, from, to, wrappedDekBytes, concurrency });
    const ms = performance.now() - started;
    clearInterval(sampler);
    const t = totals(result);
    if (t.rewrapped !== RECORDS) throw new Error(`rewrapped ${t.rewrapped} of ${RECORDS}`);
    const verification = await verifySample({ db, tables, kms, to, wrappedDekBytes }, result.sample);
    if (verification.result !== "passed") throw new Error(`verification: ${verification.detail}`);
    return { rate: RECORDS / (ms / 1000), ms, rssBefore, peak, throttled: result.throttled };
  };
  // Context: the emulator's own ceiling, a bare ReEncrypt loop of the same blob (no database).
  const blob = (await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: a.arn, KeySpec: "AES_256" }))).CiphertextBlob;
  const bare = async (concurrency, calls = 400) => {
    let n = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (n++ < calls) await kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceKeyId: a.arn, DestinationKeyId: b.arn }));
    }));
    return calls / ((performance.now() - started) / 1000);
  };
  const bare1 = await bare(1);
  const bare8 = await bare(8);
  console.log(`  bare ReEncrypt loop, no database: ${bare1.toFixed(0)}/s at concurrency 1, ${bare8.toFixed(0)}/s at 8 (the emulator's ceiling)`);
  const one = await run(a, b, 1);
  console.log(`  concurrency 1 (baseline) ${one.rate.toFixed(0).padStart(5)} records/s (${(one.ms / 1000).toFixed(1)} s, ${(one.rate / bare1).toFixed(2)} x bare loop)   RSS ${mb(one.rssBefore)} -> peak ${mb(one.peak)}`);
  const eight = await run(b, a, 8);
  console.log(
    `  concurrency 8            ${eight.rate.toFixed(0).padStart(5)} records/s (${(eight.ms / 1000).toFixed(1)} s, ${(eight.rate / bare8).toFixed(2)} x bare loop)   RSS ${mb(eight.rssBefore)} -> peak ${mb(eight.peak)}` +
      `   ratio ${(eight.rate / one.rate).toFixed(2)} x concurrency 1${eight.throttled ? `, ${eight.throttled} throttled` : ""}`,
  );
  console.log("  (the emulator is one Python process: its ReEncrypt rate bounds both; real KMS allows far more per second)");
  await db.close();
} finally {
  await emulators.stop();
  rmSync(work, { recursive: true, force: true });
}
