// Generated secrets and signing keys through the CLI, against moto's Secrets Manager: the value
// is read back from the emulator and then searched for in everything the commands printed and
// every file they wrote (journal, markdown, requests, signatures, JWKS). It must be nowhere.
import { createPublicKey, createHash, createPrivateKey, sign, verify } from "node:crypto";
import { GetSecretValueCommand, DescribeSecretCommand } from "@aws-sdk/client-secrets-manager";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { secretsClient } from "../support/aws.js";
import { suffix } from "../support/policy.js";
import { makeWorld, type World } from "./setup.js";

const s = suffix();
const names = { jwt: `KS_JWT_${s}`, b64: `KS_B64_${s}`, provider: `KS_PROVIDER_${s}`, signing: `ks-jwt02-${s}`, rsa: `ks-rsa-${s}` };
let w: World;

beforeAll(async () => {
  w = await makeWorld("keys-secrets", {
    inventory: [
      { name: names.jwt, kind: "secret", bytes: 32, encoding: "hex", rotation: "quarterly", classification: "L3", purpose: "HS256 session JWTs" },
      { name: names.b64, kind: "secret", bytes: 48, encoding: "base64", rotation: "annual" },
      { name: names.provider, kind: "secret", source: "provider", rotation: "provider" },
      { name: names.signing, kind: "signing-key", algorithm: "Ed25519", rotation: "annual" },
      { name: names.rsa, kind: "signing-key", algorithm: "RSA-4096", rotation: "annual" },
    ],
  });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** Every text form of a secret that could leak. */
function forms(value: string): string[] {
  const out = [value];
  if (/^[0-9a-f]+$/.test(value)) {
    const bytes = Buffer.from(value, "hex");
    out.push(bytes.toString("base64"), bytes.toString("base64url"));
  } else if (value.includes("PRIVATE KEY")) {
    out.push(value.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "").slice(0, 60));
  } else {
    const bytes = Buffer.from(value, "base64");
    out.push(bytes.toString("hex"));
  }
  return out;
}

describe("generate (secret)", () => {
  it("writes 32 random bytes, hex, straight into Secrets Manager with tags", async () => {
    const r = await w.approved(["generate", names.jwt, "--reason", "initial", "--json"], [w.alem]);
    expect(r.code, r.stderr).toBe(0);
    const value = (await secretsClient().send(new GetSecretValueCommand({ SecretId: names.jwt, VersionStage: "AWSCURRENT" }))).SecretString!;
    expect(value).toMatch(/^[0-9a-f]{64}$/);
    const described = await secretsClient().send(new DescribeSecretCommand({ SecretId: names.jwt }));
    expect(Object.fromEntries(described.Tags!.map((t) => [t.Key, t.Value]))).toMatchObject({ Name: names.jwt, Classification: "L3", ManagedBy: "dropkeys", Purpose: "HS256 session JWTs" });
    const b64 = await w.approved(["generate", names.b64], [w.alem]);
    expect(b64.code, b64.stderr).toBe(0);
    const value2 = (await secretsClient().send(new GetSecretValueCommand({ SecretId: names.b64, VersionStage: "AWSCURRENT" }))).SecretString!;
    expect(Buffer.from(value2, "base64")).toHaveLength(48);
  });

  it("refuses an existing secret and points to the rotation command; the value stays", async () => {
    const before = (await secretsClient().send(new GetSecretValueCommand({ SecretId: names.jwt, VersionStage: "AWSCURRENT" }))).SecretString;
    const r = await w.cli(["generate", names.jwt, "--json"]);
    expect(r.code).toBe(1);
    const err = JSON.parse(r.stderr) as { error: { code: string; hint: string } };
    expect(err.error.code).toBe("generate.secret-exists");
    expect(err.error.hint).toContain("rotate");
    expect((await secretsClient().send(new GetSecretValueCommand({ SecretId: names.jwt, VersionStage: "AWSCURRENT" }))).SecretString).toBe(before);
  });

  it("does not generate a provider's secret (exit 2)", async () => {
    const r = await w.cli(["generate", names.provider]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("comes from its provider");
  });
});

describe("generate (signing key)", () => {
  it("Ed25519: private PKCS#8 in Secrets Manager, public JWKS with the RFC 7638 thumbprint as kid", async () => {
    const jwksFile = path.join(w.dir, "jwks.json");
    const r = await w.approved(["generate", names.signing, "--jwks-out", jwksFile], [w.alem]);
    expect(r.code, r.stderr).toBe(0);
    const jwks = JSON.parse(readFileSync(jwksFile, "utf8")) as { keys: Record<string, string>[] };
    expect(jwks.keys).toHaveLength(1);
    const jwk = jwks.keys[0]!;
    expect(jwk).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    expect(jwk.d).toBeUndefined();
    const thumbprint = createHash("sha256").update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x })).digest("base64url");
    expect(jwk.kid).toBe(thumbprint);
    const pem = (await secretsClient().send(new GetSecretValueCommand({ SecretId: names.signing, VersionStage: "AWSCURRENT" }))).SecretString!;
    // Stored as PKCS#8 PEM: re-exporting it in that form gives the same text.
    expect(createPrivateKey(pem).export({ type: "pkcs8", format: "pem" })).toBe(pem);
    // The stored private key and the published public key are one pair.
    const message = Buffer.from("header.payload");
    const signature = sign(null, message, createPrivateKey(pem));
    expect(verify(null, message, createPublicKey({ key: jwk, format: "jwk" }), signature)).toBe(true);
    const described = await secretsClient().send(new DescribeSecretCommand({ SecretId: names.signing }));
    expect(described.Tags!.find((t) => t.Key === "dropkeys:kid")!.Value).toBe(jwk.kid);
  });

  it("RSA-4096 adds its key to an existing JWKS file and keeps the old one", async () => {
    const jwksFile = path.join(w.dir, "jwks.json");
    const r = await w.approved(["generate", names.rsa, "--jwks-out", jwksFile], [w.alem]);
    expect(r.code, r.stderr).toBe(0);
    const jwks = JSON.parse(readFileSync(jwksFile, "utf8")) as { keys: Record<string, string>[] };
    expect(jwks.keys.map((k) => k.kty)).toEqual(["OKP", "RSA"]);
    const rsa = jwks.keys[1]!;
    expect(Buffer.from(rsa.n!, "base64url")).toHaveLength(512);
    expect(rsa.kid).toBe(createHash("sha256").update(JSON.stringify({ e: rsa.e, kty: "RSA", n: rsa.n })).digest("base64url"));
  });
});

describe("no generated secret value anywhere", () => {
  it("is absent from stdout, stderr, the journal, internkontroll.md and every file the commands wrote", async () => {
    const values: string[] = [];
    for (const name of [names.jwt, names.b64, names.signing, names.rsa]) {
      values.push((await secretsClient().send(new GetSecretValueCommand({ SecretId: name, VersionStage: "AWSCURRENT" }))).SecretString!);
    }
    const needles = values.flatMap(forms);
    expect(needles.length).toBeGreaterThanOrEqual(8);
    const haystacks: [string, string][] = w.results.flatMap((r, i) => [[`stdout #${i}`, r.stdout], [`stderr #${i}`, r.stderr]] as [string, string][]);
    const files = filesUnder(w.dir).filter((f) => !/_ed25519(\.pub)?$/.test(f));
    expect(files.some((f) => f.endsWith("internkontroll.jsonl"))).toBe(true);
    expect(files.some((f) => f.endsWith("internkontroll.md"))).toBe(true);
    expect(files.some((f) => f.endsWith("jwks.json"))).toBe(true);
    expect(files.some((f) => f.endsWith(".sig"))).toBe(true);
    for (const f of files) haystacks.push([f, readFileSync(f, "utf8")]);
    for (const [where, text] of haystacks) {
      for (const needle of needles) expect(text.includes(needle), `a secret value appears in ${where}`).toBe(false);
    }
  });
});

describe("schedule-deletion and cancel-deletion of a secret", () => {
  it("DeleteSecret with the same recovery window, verified by a refused read; cancel restores it", async () => {
    const r = await w.approved(["schedule-deletion", names.b64, "--days", "7", "--reason", "no longer used", "--confirm", names.b64]);
    expect(r.code, r.stderr).toBe(0);
    const described = await secretsClient().send(new DescribeSecretCommand({ SecretId: names.b64 }));
    expect(described.DeletedDate).toBeInstanceOf(Date);
    await expect(secretsClient().send(new GetSecretValueCommand({ SecretId: names.b64, VersionStage: "AWSCURRENT" }))).rejects.toMatchObject({ name: "InvalidRequestException" });
    const outcome = w.journal().filter((e) => e.operation === "schedule-deletion").at(-1) as { verification: { result: string; detail: string }; details: { deletionDate: string; days: number } };
    expect(outcome.verification.result).toBe("passed");
    expect(outcome.verification.detail).toContain("GetSecretValue refused (InvalidRequestException)");
    expect(outcome.details.days).toBe(7);
    const cancel = await w.approved(["cancel-deletion", names.b64, "--reason", "still used by the webhook"], [w.alice]);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect((await secretsClient().send(new DescribeSecretCommand({ SecretId: names.b64 }))).DeletedDate).toBeUndefined();
  });

  it("the outcome of each generate names the ARN it created", () => {
    const outcomes = w.journal().filter((e) => e.operation === "generate" && e.type === "outcome") as { target: { name: string; arn?: string } }[];
    expect(outcomes.length).toBeGreaterThanOrEqual(4);
    for (const o of outcomes) expect(o.target.arn, o.target.name).toMatch(/^arn:aws:secretsmanager:eu-north-1:/);
  });
});
