// shred-user throughput: 10,000 users erased in one batch on SQLite and on PostgreSQL, through
// the real engine (per-chunk journal entries fsynced, one transaction per chunk with a savepoint
// per user, legal-hold query, AML counts before and after, re-read verification). Baseline, in
// the same run and database: a bare loop of `UPDATE users SET national_id = NULL WHERE id = ?`
// over the same number of users (one transaction per 500, no checks, no journal). Goals: at
// least 2,000 users/s on SQLite and 500/s on PostgreSQL; memory flat (peak RSS reported).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setInterval, clearInterval } from "node:timers";
import { KMSClient, CreateKeyCommand } from "@aws-sdk/client-kms";
import { startEmulators } from "./aws-emulators.mjs";
import { startPostgres } from "./drill/postgres.mjs";

const dist = new URL("../dist/lib/", import.meta.url);
const { openDatabase } = await import(new URL("db/index.js", dist).href);
const { seedDropDatabase, dropSection } = await import(new URL("envelope/seed.js", dist).href);
const { shredUsers } = await import(new URL("shred/engine.js", dist).href);
const { Journal } = await import(new URL("journal/journal.js", dist).href);

const USERS = Number(process.env.BENCH_SHRED_USERS ?? 10_000);
const actor = { aws: "arn:aws:iam::123456789012:user/bench", osUser: "bench", host: "bench" };
const work = mkdtempSync(path.join(tmpdir(), "dropkeys-bench-shred-"));
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

const emulators = await startEmulators({ logDir: path.join(work, "logs") });
const postgres = await startPostgres();
try {
  const kms = new KMSClient({ region: "eu-north-1", endpoint: emulators.kmsUrls["eu-north-1"], credentials: { accessKeyId: "test", secretAccessKey: "test" } });
  const keyId = (await kms.send(new CreateKeyCommand({ Description: "bench" }))).KeyMetadata.KeyId;
  console.log(`shred-user: ${USERS} users per run, layout combined, 2 AML rows per user, legal-hold query on`);
  const goals = { sqlite: 2000, postgres: 500 };
  for (const engine of ["sqlite", "postgres"]) {
    const url = engine === "sqlite" ? `sqlite:${path.join(work, "drop.db")}` : postgres.url;
    const db = await openDatabase(url, { create: true });
    // Two identical populations: one for the baseline loop, one for the real erasure.
    await seedDropDatabase(db, { layout: "combined", kms, keyId, users: USERS, createSchema: true, dataKeys: 32 });
    await seedDropDatabase(db, { layout: "combined", kms, keyId, users: USERS, firstId: USERS + 1, dataKeys: 32 });
    const baselineIds = Array.from({ length: USERS }, (_, i) => String(i + 1));
    const ids = Array.from({ length: USERS }, (_, i) => String(USERS + i + 1));

    let started = performance.now();
    for (let i = 0; i < USERS; i += 500) {
      await db.transaction(async (tx) => {
        for (const id of baselineIds.slice(i, i + 500)) await tx.execute("UPDATE users SET national_id = NULL WHERE id = ?", [id]);
      });
    }
    const baselineMs = performance.now() - started;

    const journal = new Journal(path.join(work, `legal-${engine}`));
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    started = performance.now();
    const summary = await shredUsers(ids, { db, section: dropSection("combined"), journal, actor, requestId: `bench-${engine}`, reason: "bench", backupRetentionDays: 35 });
    const ms = performance.now() - started;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    if (summary.erased.length !== USERS) throw new Error(`${engine}: erased ${summary.erased.length} of ${USERS}`);
    const rate = USERS / (ms / 1000);
    const baseRate = USERS / (baselineMs / 1000);
    console.log(
      `  ${engine.padEnd(8)} ${rate.toFixed(0).padStart(6)} users/s (${(ms / 1000).toFixed(2)} s; goal >= ${goals[engine]}: ${rate >= goals[engine] ? "met" : "NOT met"})` +
        `   baseline bare UPDATE loop ${baseRate.toFixed(0)}/s, ratio ${(rate / baseRate).toFixed(2)}` +
        `   RSS ${mb(rssBefore)} -> peak ${mb(peak)} (+${mb(peak - rssBefore)}), ${summary.chunks} journal chunk pairs`,
    );
    await db.close();
  }
} finally {
  await postgres.stop();
  await emulators.stop();
  rmSync(work, { recursive: true, force: true });
}
