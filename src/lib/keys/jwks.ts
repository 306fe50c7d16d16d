// Asymmetric signing keys (JWT-02): generated in memory, the private key (PKCS#8 PEM) goes to
// Secrets Manager, the public key is published as a JWKS whose `kid` is the RFC 7638 thumbprint.
import { createHash, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { usageError } from "../errors.js";
import { registerSecret } from "../sensitive.js";

export type SigningAlgorithm = "Ed25519" | "RSA-4096";

export interface PublicJwk {
  kty: string;
  kid: string;
  alg: string;
  use: "sig";
  [member: string]: string;
}

export interface Jwks {
  keys: PublicJwk[];
}

/** The members RFC 7638 (and RFC 8037 for OKP) hash, per key type, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, string[]> = {
  RSA: ["e", "kty", "n"],
  EC: ["crv", "kty", "x", "y"],
  OKP: ["crv", "kty", "x"],
};

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of a public JWK. */
export function jwkThumbprint(jwk: Record<string, unknown>): string {
  const kty = String(jwk.kty);
  const members = THUMBPRINT_MEMBERS[kty];
  if (!members) throw usageError(`no RFC 7638 thumbprint for key type ${kty}`);
  const json = "{" + members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(String(jwk[m]))}`).join(",") + "}";
  return createHash("sha256").update(json, "utf8").digest("base64url");
}

export interface GeneratedSigningKey {
  /** PKCS#8 PEM; registered as a secret, never printed. Callers drop it after storing. */
  privatePem: string;
  jwk: PublicJwk;
}

/** A fresh key pair from the CSPRNG; the private key's text forms are registered as secrets. */
export function generateSigningKey(algorithm: SigningAlgorithm): GeneratedSigningKey {
  const pair =
    algorithm === "Ed25519"
      ? generateKeyPairSync("ed25519")
      : generateKeyPairSync("rsa", { modulusLength: 4096, publicExponent: 0x10001 });
  const privatePem = pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  registerSecret(privatePem, pemBody(privatePem), ...privateJwkMembers(pair.privateKey));
  const pub = pair.publicKey.export({ format: "jwk" }) as JsonWebKey;
  const members: Record<string, string> = {};
  for (const [k, v] of Object.entries(pub)) if (typeof v === "string") members[k] = v;
  const jwk: PublicJwk = { ...members, kty: String(pub.kty), kid: jwkThumbprint(members), alg: algorithm === "Ed25519" ? "EdDSA" : "RS256", use: "sig" };
  return { privatePem, jwk };
}

function pemBody(pem: string): string {
  return pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
}

/** The private JWK members (d, p, q...) so no encoding of the private key slips into the journal. */
function privateJwkMembers(key: KeyObject): string[] {
  const jwk = key.export({ format: "jwk" }) as Record<string, unknown>;
  return ["d", "p", "q", "dp", "dq", "qi"].map((m) => jwk[m]).filter((v): v is string => typeof v === "string");
}

/** The JWKS in `file` (empty when absent); exit 2 when the file is not a JWKS. */
export function readJwks(file: string): Jwks {
  if (!existsSync(file)) return { keys: [] };
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Jwks;
    if (!Array.isArray(parsed.keys)) throw new Error("no keys array");
    return parsed;
  } catch (error) {
    throw usageError(`${file} exists but is not a JWKS file (${(error as Error).message})`, {
      code: "jwks.invalid",
      hint: "Point --jwks-out at the JWKS file to extend, or at a new file.",
    });
  }
}

/** Add a public key to the JWKS file (creating it); keys already there stay, so old tokens still verify. */
export function writeJwks(file: string, jwk: PublicJwk): Jwks {
  const existing = readJwks(file);
  const jwks = { keys: [...existing.keys.filter((k) => k.kid !== jwk.kid), jwk] };
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(jwks, null, 2) + "\n", { mode: 0o644 });
  renameSync(tmp, file);
  return jwks;
}
