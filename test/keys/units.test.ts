// The key lifecycle's pure parts: RFC 7638 thumbprints (the RFCs' own examples), polling with
// backoff and its bound, incident ids and deadlines in Europe/Oslo, the checklist from journal
// entries, the key policy, the deletion window; and LimitExceededException not being retried,
// against a real local HTTP server that answers as KMS does when the 10 rotations are used.
import { createServer, type Server } from "node:http";
import { KMSClient, RotateKeyOnDemandCommand } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DropkeysError } from "../../src/lib/errors.js";
import { incidentReport, newIncidentId } from "../../src/lib/incident/incident.js";
import type { JournalEntry } from "../../src/lib/journal/journal.js";
import { jwkThumbprint } from "../../src/lib/keys/jwks.js";
import { buildKeyPolicy } from "../../src/lib/keys/key-policy.js";
import { pollUntil, sendWithoutLimitRetry } from "../../src/lib/keys/kms.js";
import { parseDays } from "../../src/operations/schedule-deletion.js";
import { parsePolicy } from "../../src/lib/policy/load.js";
import type { KmsKeyEntry } from "../../src/lib/policy/schema.js";

describe("RFC 7638 thumbprints", () => {
  it("matches RFC 7638 §3.1 (RSA) and RFC 8037 A.3 (Ed25519)", () => {
    const rsa = {
      kty: "RSA",
      n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
      e: "AQAB",
      alg: "RS256",
      kid: "2011-04-29",
    };
    expect(jwkThumbprint(rsa)).toBe("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    expect(jwkThumbprint({ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" })).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  });
});

describe("pollUntil", () => {
  it("backs off exponentially until the probe reports done", async () => {
    const sleeps: number[] = [];
    let calls = 0;
    const r = await pollUntil(async () => ({ done: ++calls === 4, value: calls, status: `call ${calls}` }), {
      timeoutMs: 60_000,
      initialDelayMs: 100,
      maxDelayMs: 300,
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(r).toMatchObject({ done: true, value: 4, attempts: 4 });
    expect(sleeps).toEqual([100, 200, 300]);
  });

  it("gives up at the bound, having looked once more at the deadline itself", async () => {
    const started = Date.now();
    let calls = 0;
    const r = await pollUntil(async () => ({ done: false, value: ++calls, status: "Enabled" }), { timeoutMs: 400, initialDelayMs: 100 });
    const elapsed = Date.now() - started;
    expect(r.done).toBe(false);
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(900);
    expect(calls).toBe(4); // at 0, 100, 300 and 400 ms
  });
});

describe("incidents", () => {
  it("names incidents by the local time in Europe/Oslo, summer and winter", () => {
    expect(newIncidentId(new Date("2026-11-23T13:05:00Z"))).toBe("INC-20261123-1405");
    expect(newIncidentId(new Date("2026-07-01T22:30:00Z"))).toBe("INC-20260702-0030");
  });

  const actor = { aws: "arn:aws:sts::123456789012:assumed-role/drop-key-admin/alem", osUser: "alem", host: "laptop" };
  const entry = (seq: number, e: Partial<JournalEntry>): JournalEntry => ({ seq, time: "2026-11-23T13:10:00.000Z", prev: "", hash: "", actor, operation: "disable", type: "intent", ...e }) as JournalEntry;
  const detected = "2026-11-23T13:00:00.000Z";
  const entries = [
    entry(1, { incident: "INC-1", params: { name: "k", detectedAt: detected }, target: { name: "k" }, approvals: [{ approver: "alem", role: "CISO", signer: "ssh", fingerprint: "f", signature: "s" }] }),
    entry(2, { type: "outcome", intentSeq: 1, outcome: "succeeded", target: { name: "k" } }),
  ];

  it("computes the checklist and both deadlines from the detection time", () => {
    const report = incidentReport(entries, "INC-1", new Date("2026-11-25T14:00:00Z"))!;
    expect(report.detectedAt).toBe(detected);
    expect(report.checklist.filter((s) => s.done).map((s) => s.step)).toEqual([1, 3, 11]);
    const byStep = Object.fromEntries(report.deadlines.map((d) => [d.step, d]));
    expect(byStep[12]).toMatchObject({ due: "2026-11-25T13:00:00.000Z", overdue: true });
    expect(byStep[10]).toMatchObject({ due: "2026-11-26T13:00:00.000Z", overdue: false });
    expect(report.overdue).toBe(1);
  });

  it("a step marked done stops its deadline from being overdue", () => {
    const done = entry(3, { type: "event", operation: "incident-step", incident: "INC-1", params: { step: 12 }, reason: "post-mortem held" });
    const report = incidentReport([...entries, done], "INC-1", new Date("2026-11-25T14:00:00Z"))!;
    expect(report.deadlines.find((d) => d.step === 12)).toMatchObject({ done: true, overdue: false });
    expect(report.checklist.find((s) => s.step === 12)!.evidence).toContain("post-mortem held");
  });

  it("an audit run journalled under the incident completes step 9; a failed outcome completes nothing", () => {
    const audit = entry(3, { type: "event", operation: "audit-decrypts", incident: "INC-1" });
    const failedIntent = entry(4, { operation: "generate", incident: "INC-1" });
    const failed = entry(5, { type: "outcome", operation: "generate", intentSeq: 4, outcome: "failed" });
    const report = incidentReport([...entries, audit, failedIntent, failed], "INC-1")!;
    expect(report.checklist.filter((s) => s.done).map((s) => s.step)).toEqual([1, 3, 9, 11]);
  });

  it("knows nothing of an incident the journal does not hold", () => {
    expect(incidentReport(entries, "INC-2")).toBeUndefined();
  });
});

describe("key policy", () => {
  it("without key admins: the account root administers, and nobody is given Decrypt of data", () => {
    const policy = parsePolicy("version: 1\nroles: { drop-app-runner: {} }\ninventory:\n  - { name: k, kind: kms-key, rotation: annual, decryptRoles: [drop-app-runner] }\n");
    const { document, warnings } = buildKeyPolicy(policy, policy.inventory[0] as KmsKeyEntry, "123456789012");
    expect(warnings.join("\n")).toContain("drop-key-admin lists no principals");
    expect(warnings.join("\n")).toContain("nobody can decrypt");
    const decrypters = document.Statement.filter((st) => st.Action.includes("kms:Decrypt"));
    expect(decrypters.map((st) => st.Sid)).toEqual(["CanaryOnly"]);
    expect(decrypters[0]!.Condition).toEqual({ StringEquals: { "kms:EncryptionContext:dropkeys-canary": "1" } });
  });
});

describe("deletion window", () => {
  it("accepts 7 to 30 whole days, default 30", () => {
    expect(parseDays(undefined)).toBe(30);
    expect(parseDays("7")).toBe(7);
    expect(parseDays(30)).toBe(30);
    for (const bad of ["6", "31", "0", "-7", "7.5", "seven", ""]) expect(() => parseDays(bad)).toThrow(/from 7 to 30/);
  });
});

describe("LimitExceededException from RotateKeyOnDemand", () => {
  let server: Server;
  let hits = 0;
  let endpoint: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      req.resume();
      req.on("end", () => {
        res.writeHead(400, { "content-type": "application/x-amz-json-1.1", "x-amzn-errortype": "LimitExceededException" });
        res.end(JSON.stringify({ __type: "LimitExceededException", message: "The key has reached the limit of 10 on-demand rotations." }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const address = server.address();
    endpoint = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const client = () => new KMSClient({ region: "eu-north-1", endpoint, credentials: { accessKeyId: "t", secretAccessKey: "t" }, maxAttempts: 3, retryMode: "standard" });

  it("the SDK on its own retries it as throttling", async () => {
    hits = 0;
    await expect(client().send(new RotateKeyOnDemandCommand({ KeyId: "k" }))).rejects.toMatchObject({ name: "LimitExceededException" });
    expect(hits).toBe(3);
  });

  it("dropkeys asks once and says what the limit is", async () => {
    hits = 0;
    const error = await sendWithoutLimitRetry(client(), new RotateKeyOnDemandCommand({ KeyId: "k" }), "RotateKeyOnDemand k").catch((e: unknown) => e);
    expect(hits).toBe(1);
    expect(error).toBeInstanceOf(DropkeysError);
    expect((error as DropkeysError).code).toBe("aws.LimitExceededException");
    expect((error as DropkeysError).hint).toContain("at most 10 on-demand rotations");
  });
});
