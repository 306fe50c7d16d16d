// Shared helpers of the database tests: a fresh PostgreSQL database per test file on the server
// the harness started (DROPKEYS_TEST_PG_URL), and a fresh SQLite file.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { randomBytes } from "node:crypto";

export function pgServerUrl(): string {
  const url = process.env.DROPKEYS_TEST_PG_URL;
  // Skipping PostgreSQL would hide half the behaviour: a missing server is a failure.
  if (!url) throw new Error("DROPKEYS_TEST_PG_URL is not set: run the tests through vitest (the global setup starts PostgreSQL)");
  return url;
}

/** CREATE DATABASE with a unique name; returns its URL. */
export async function freshPgDatabase(prefix = "dk"): Promise<string> {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`;
  const client = new pg.Client({ connectionString: pgServerUrl() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(pgServerUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

export function freshSqliteUrl(dir?: string): string {
  const base = dir ?? mkdtempSync(path.join(tmpdir(), "dropkeys-db-"));
  return `sqlite:${path.join(base, `drop-${randomBytes(3).toString("hex")}.db`)}`;
}

import { CreateKeyCommand } from "@aws-sdk/client-kms";
import { readFileSync, existsSync } from "node:fs";
import { kmsClient } from "../support/aws.js";
import type { Actor } from "../../src/lib/journal/journal.js";

export const testActor: Actor = { aws: "arn:aws:iam::123456789012:user/test", osUser: "tester", host: "test-host" };

/** A fresh symmetric KMS key in the strict emulator (CreateKey is slow: once per suite). */
export async function createKmsKey(region = "eu-north-1"): Promise<{ keyId: string; arn: string }> {
  const out = await kmsClient(region).send(new CreateKeyCommand({ KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", Description: "dropkeys test" }));
  return { keyId: out.KeyMetadata!.KeyId!, arn: out.KeyMetadata!.Arn! };
}

/** Every file of a journal directory as text (jsonl and md), for leak scans. */
export function journalText(dir: string): string {
  return ["internkontroll.jsonl", "internkontroll.md"]
    .map((f) => path.join(dir, f))
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f, "utf8"))
    .join("\n");
}

/** The first seeded national ID found in `text`, or undefined. */
export function leakedNationalId(text: string, nationalIds: Iterable<string>): string | undefined {
  for (const fnr of nationalIds) if (text.includes(fnr)) return fnr;
  return undefined;
}
