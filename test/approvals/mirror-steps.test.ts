// Steps journalled outside the operation pipeline write the journal's WORM mirror (moto S3 with
// Object Lock) before the AWS call their intent announces. Here `grant --retire-expired` (cron):
// with the mirror unreachable (the policy's S3 endpoint, not a sealed field, pointed at a dead
// loopback port) the grant is not retired, the run fails with a journal failure (exit 5) and the
// intent is closed as failed; with the mirror back, the grant is retired and the mirror holds
// every entry, that run's intent and outcome included. And `reencrypt --reenable-source`: a
// mirror that goes away after the run's intent was mirrored keeps the source key Disabled.
import { readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import { createServer } from "node:net";
import path from "node:path";
import { CreateAliasCommand, DescribeKeyCommand, DisableKeyCommand, ListGrantsCommand } from "@aws-sdk/client-kms";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { openDatabase } from "../../src/lib/db/index.js";
import { dropDatabaseSection, seedDropDatabase } from "../../src/lib/envelope/seed.js";
import type { JournalEntry } from "../../src/lib/journal/journal.js";
import { JournalMirror, listMirrorEntries } from "../../src/lib/journal/mirror.js";
import { createKmsKey } from "../db/support.js";
import { kmsClient, motoUrl, s3Client } from "../support/aws.js";
import { suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";

const kms = kmsClient();
const s3 = s3Client();
const s = suffix();
const bucket = `internkontroll-steps-${s}`;
const mirrorUrl = `s3://${bucket}/legal`;
const runner = "arn:aws:iam::123456789012:role/drop-app-runner";
let w: World;

/** A loopback port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Point the policy's S3 endpoint elsewhere (endpoints are not sealed); returns the undo. */
function pointS3At(url: string): () => void {
  const original = readFileSync(w.policyFile, "utf8");
  const policy = parse(original) as { endpoints: Record<string, unknown> };
  policy.endpoints = { ...policy.endpoints, s3: url };
  writeFileSync(w.policyFile, stringify(policy));
  return () => writeFileSync(w.policyFile, original);
}

const retirements = () => w.journal().filter((e) => e.operation === "retire-grant") as unknown as JournalEntry[];

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: "eu-north-1" } }));
});

describe("grant --retire-expired and the journal mirror", () => {
  const key = `steps-grant-${s}`;
  let keyId: string;
  let grantId: string;
  const listed = async () => ((await kms.send(new ListGrantsCommand({ KeyId: keyId }))).Grants ?? []).map((g) => g.GrantId);

  beforeAll(async () => {
    w = await makeWorld("mirror-steps", { inventory: [kmsEntry(key)], grants: { maxLifetime: "3s" }, journal: { mirror: mirrorUrl } });
    const generated = await w.approved(["generate", key, "--reason", "mirror steps test"]);
    expect(generated.code, generated.stderr).toBe(0);
    keyId = (await kms.send(new DescribeKeyCommand({ KeyId: `alias/${key}` }))).KeyMetadata!.KeyId!;
    const made = await w.approved(["grant", key, "--to", runner, "--operations", "Decrypt"], [w.alem, w.lena]);
    expect(made.code, made.stderr).toBe(0);
    const outcome = w.journal().filter((e) => e.operation === "grant" && e.type === "outcome").at(-1) as { details: { grantId: string; expiresAt: string } };
    grantId = outcome.details.grantId;
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(outcome.details.expiresAt) - Date.now()) + 500));
  });

  it("mirror unreachable: the grant is not retired, exit 5 (journal failure), the intent closed as failed", async () => {
    expect(await listed()).toContain(grantId);
    const restore = pointS3At(`http://127.0.0.1:${await deadPort()}`);
    let r;
    try {
      r = await w.cli(["grant", "--retire-expired"]);
    } finally {
      restore();
    }
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(`cannot list the journal mirror ${mirrorUrl}`);
    expect(await listed(), "RetireGrant/RevokeGrant never ran").toContain(grantId);
    const [intent, outcome, ...more] = retirements();
    expect(more).toHaveLength(0);
    expect(intent).toMatchObject({ type: "intent", params: { grantId } });
    expect(outcome).toMatchObject({ type: "outcome", outcome: "failed", intentSeq: intent!.seq, error: { message: expect.stringContaining("journal mirror") } });
  });

  it("mirror back: the next run retires the grant, and the mirror holds every entry (this run's intent and outcome included)", async () => {
    const r = await w.cli(["grant", "--retire-expired", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { grants: { grantId: string; result: string }[] }).grants).toEqual([expect.objectContaining({ grantId, result: "retired" })]);
    expect(await listed()).not.toContain(grantId);
    const done = retirements();
    expect(done).toHaveLength(4);
    expect(done[3]).toMatchObject({ type: "outcome", outcome: "succeeded", intentSeq: done[2]!.seq, verification: { result: "passed" } });
    const local = w.journal() as unknown as JournalEntry[];
    const mirrored = await listMirrorEntries(new JournalMirror(s3, mirrorUrl, 1827));
    expect(mirrored).toEqual(local);
    const v = await w.cli(["log", "verify"]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });
});

/**
 * An HTTP proxy in front of moto's S3 that forwards everything until it has forwarded a request
 * whose body matches `cutAfter`, and refuses every request after that (a mirror that goes away
 * mid-run).
 */
async function cuttingProxy(cutAfter: (body: string) => boolean) {
  const target = new URL(motoUrl());
  let cut = false;
  let refused = 0;
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (cut) {
        refused++;
        res.destroy();
        return;
      }
      const body = Buffer.concat(chunks);
      const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on("end", () => {
          if (cutAfter(body.toString("utf8"))) cut = true;
        });
      });
      upstream.on("error", () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    get cut() {
      return cut;
    },
    get refused() {
      return refused;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("reencrypt --reenable-source and the journal mirror", () => {
  const oldName = `steps-old-${s}`;
  const newName = `steps-new-${s}`;
  let v: World;
  let oldKeyId: string;
  let proxy: Awaited<ReturnType<typeof cuttingProxy>>;
  let wrappedBefore: string[];
  const wrapped = async () => {
    const db = await openDatabase(`sqlite:${path.join(v.dir, "drop.db")}`);
    try {
      return (await db.query<{ wrapped_dek: string }>("SELECT wrapped_dek FROM user_deks ORDER BY user_id")).map((row) => row.wrapped_dek);
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    const [oldKey, newKey] = await Promise.all([createKmsKey(), createKmsKey()]);
    await kms.send(new CreateAliasCommand({ AliasName: `alias/${oldName}`, TargetKeyId: oldKey.keyId }));
    await kms.send(new CreateAliasCommand({ AliasName: `alias/${newName}`, TargetKeyId: newKey.keyId }));
    oldKeyId = oldKey.keyId;
    v = await makeWorld("mirror-steps-reenc", {
      inventory: [kmsEntry(oldName), kmsEntry(newName)],
      envelope: { key: newName, wrappedDekBytes: "auto" },
      database: dropDatabaseSection("separate", "sqlite:drop.db"),
      journal: { mirror: `s3://${bucket}/reencrypt` },
    });
    const db = await openDatabase(`sqlite:${path.join(v.dir, "drop.db")}`, { create: true });
    try {
      await seedDropDatabase(db, { layout: "separate", kms, keyId: oldKeyId, users: 20, createSchema: true, dataKeys: 2, transactionsPerUser: 0 });
    } finally {
      await db.close();
    }
    await kms.send(new DisableKeyCommand({ KeyId: oldKeyId }));
    wrappedBefore = await wrapped();
    // The mirror works until the run's own intent is in it, then goes away.
    proxy = await cuttingProxy((body) => body.includes('"type":"intent"') && body.includes('"operation":"reencrypt",'));
    const policy = parse(readFileSync(v.policyFile, "utf8")) as { endpoints: Record<string, unknown> };
    policy.endpoints = { ...policy.endpoints, s3: proxy.url };
    writeFileSync(v.policyFile, stringify(policy));
  });

  afterAll(async () => {
    await proxy?.close();
  });

  it("the mirror gone after the run's intent: the source key is never enabled (Disabled in KMS, no row rewrapped), the step's intent closed as failed", async () => {
    const r = await v.approved(["reencrypt", "--from", oldName, "--to", newName, "--reenable-source", "--reason", "INC step 5"], [v.alem, v.alice]);
    expect(proxy.cut, "the run's intent reached the mirror before it went away").toBe(true);
    expect(proxy.refused).toBeGreaterThan(0);
    // A journal failure, not an AWS call that "did not return" (the reset connection's SDK error
    // is a TimeoutError, but the enable was never sent).
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(`cannot list the journal mirror s3://${bucket}/reencrypt`);
    expect((await kms.send(new DescribeKeyCommand({ KeyId: oldKeyId }))).KeyMetadata!.KeyState).toBe("Disabled");
    // Re-disabling would hide an enable that happened: no row was rewrapped, so none did.
    expect(wrappedBefore).toHaveLength(20);
    expect(await wrapped()).toEqual(wrappedBefore);
    const entries = v.journal() as unknown as JournalEntry[];
    const enable = entries.filter((e) => e.operation === "reencrypt-enable-source");
    expect(enable).toEqual([expect.objectContaining({ type: "intent" }), expect.objectContaining({ type: "outcome", outcome: "failed", intentSeq: enable[0]!.seq })]);
    expect(entries.filter((e) => e.operation === "reencrypt" && e.type === "outcome").at(-1)).toMatchObject({ outcome: "failed" });
  });
});
