// Step 2 of a rotation: prove the pending value works as an HS256 key before anyone depends on
// it. The application uses the secret's text as the HMAC key (UTF-8), so we do the same.
import { createHmac, timingSafeEqual } from "node:crypto";

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

export function signHs256(payload: Record<string, unknown>, key: string): string {
  const head = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = base64url(JSON.stringify(payload));
  const signature = createHmac("sha256", key).update(`${head}.${body}`).digest();
  return `${head}.${body}.${base64url(signature)}`;
}

/** True when `token` is an HS256 JWT signed with `key` (signature only; no claims checked). */
export function verifyHs256(token: string, key: string): boolean {
  const parts = token.split(".");
  if (parts.length !== 3) return false;
  const [head, body, signature] = parts as [string, string, string];
  try {
    const header = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { alg?: string };
    if (header.alg !== "HS256") return false;
  } catch {
    return false;
  }
  const expected = createHmac("sha256", key).update(`${head}.${body}`).digest();
  const given = Buffer.from(signature, "base64url");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface KeyTest {
  passed: boolean;
  detail: string;
}

/**
 * Sign and verify a test token with the new value, and check that the old value does not
 * verify it (the new value really is different). Only the outcome leaves this function.
 */
export function testNewKey(newValue: string, oldValue: string | undefined): KeyTest {
  if (!/^[0-9a-f]{64}$/.test(newValue)) return { passed: false, detail: "the new value is not 32 bytes of hex" };
  const now = Math.floor(Date.now() / 1000);
  const token = signHs256({ sub: "dropkeys-rotation-test", iat: now, exp: now + 60 }, newValue);
  if (!verifyHs256(token, newValue)) return { passed: false, detail: "a token signed with the new value does not verify with it" };
  if (oldValue !== undefined && verifyHs256(token, oldValue)) {
    return { passed: false, detail: "the new value verifies tokens of the old one: it is not a new value" };
  }
  return { passed: true, detail: "HS256 test token signed and verified with the new value; the old value rejects it" };
}
