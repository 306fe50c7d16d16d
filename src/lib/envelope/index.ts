// The fødselsnummer envelope exactly as the Drop app writes it (POLICY.md §7):
//   base64(wrappedDEK || iv(12) || tag(16) || ciphertext), AES-256-GCM, DEK from KMS GenerateDataKey.
// The format stores no length for the wrapped DEK and its size depends on the KMS implementation,
// so every parse is told the length (policy `envelope.wrappedDekBytes`, or measured once per run).
// Used by reencrypt, by verification and by the tests to seed realistic rows; dropkeys never
// prints a decrypted national ID.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { DecryptCommand, GenerateDataKeyCommand, GenerateDataKeyWithoutPlaintextCommand, type KMSClient } from "@aws-sdk/client-kms";
import { failure } from "../errors.js";

export const IV_BYTES = 12;
export const TAG_BYTES = 16;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Where a value came from, so a parse error can name it. */
export interface RowRef {
  table: string;
  id: unknown;
  column?: string;
}

export interface Envelope {
  wrappedDek: Buffer;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** The part after the wrapped DEK (layout `separate` stores it alone): iv || tag || ciphertext. */
export interface Sealed {
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

export function describeRow(ref: RowRef | undefined): string {
  if (!ref) return "a value";
  return `${ref.table}${ref.column ? `.${ref.column}` : ""} row ${JSON.stringify(ref.id)}`;
}

/** A value that does not parse: names the table, the row id and what is wrong (never the value). */
export function envelopeError(ref: RowRef | undefined, problem: string) {
  return failure(`${describeRow(ref)}: the envelope does not parse: ${problem}`, {
    code: "envelope.corrupt",
    hint: "The row was left as it is. Check how the application wrote it, and the policy's envelope.wrappedDekBytes.",
    details: { table: ref?.table, id: ref?.id, column: ref?.column, problem },
  });
}

/** Text (base64) or bytes as stored; bytes columns (BLOB / bytea) are accepted as they are. */
export function decodeStored(value: unknown, ref?: RowRef): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value !== "string") throw envelopeError(ref, `expected base64 text, found ${value === null ? "NULL" : typeof value}`);
  const text = value.trim();
  if (text.length === 0) throw envelopeError(ref, "the value is empty");
  if (text.length % 4 !== 0 || !BASE64.test(text)) throw envelopeError(ref, "the value is not valid base64");
  return Buffer.from(text, "base64");
}

/** Split a combined envelope; checks that the parts add up. */
export function parseEnvelope(value: unknown, wrappedDekBytes: number, ref?: RowRef): Envelope {
  const bytes = decodeStored(value, ref);
  const minimum = wrappedDekBytes + IV_BYTES + TAG_BYTES + 1;
  if (bytes.length < minimum) {
    throw envelopeError(
      ref,
      `${bytes.length} bytes, but a ${wrappedDekBytes}-byte wrapped DEK, a ${IV_BYTES}-byte IV, a ${TAG_BYTES}-byte tag and at least one byte of ciphertext need ${minimum}`,
    );
  }
  const wrappedDek = bytes.subarray(0, wrappedDekBytes);
  return { wrappedDek, ...splitSealed(bytes.subarray(wrappedDekBytes)) };
}

/** Split iv || tag || ciphertext (layout `separate`). */
export function parseSealed(value: unknown, ref?: RowRef): Sealed {
  const bytes = decodeStored(value, ref);
  if (bytes.length < IV_BYTES + TAG_BYTES + 1) {
    throw envelopeError(ref, `${bytes.length} bytes, but an IV, a tag and at least one byte of ciphertext need ${IV_BYTES + TAG_BYTES + 1}`);
  }
  return splitSealed(bytes);
}

/** A bare wrapped DEK (layout `separate`), checked against the expected length. */
export function parseWrappedDek(value: unknown, wrappedDekBytes: number, ref?: RowRef): Buffer {
  const bytes = decodeStored(value, ref);
  if (bytes.length !== wrappedDekBytes) throw envelopeError(ref, `the wrapped DEK has ${bytes.length} bytes, expected ${wrappedDekBytes}`);
  return bytes;
}

function splitSealed(bytes: Buffer): Sealed {
  return {
    iv: bytes.subarray(0, IV_BYTES),
    tag: bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES),
    ciphertext: bytes.subarray(IV_BYTES + TAG_BYTES),
  };
}

export function formatEnvelope(envelope: Envelope): string {
  return Buffer.concat([envelope.wrappedDek, envelope.iv, envelope.tag, envelope.ciphertext]).toString("base64");
}

export function formatSealed(sealed: Sealed): string {
  return Buffer.concat([sealed.iv, sealed.tag, sealed.ciphertext]).toString("base64");
}

/** Re-store a value in the representation it was read in (base64 text or bytes). */
export function encodeLike(original: unknown, bytes: Buffer): string | Buffer {
  return typeof original === "string" ? bytes.toString("base64") : bytes;
}

/** AES-256-GCM with a fresh random 96-bit IV under a plaintext DEK (zeroed by the caller). */
export function seal(dek: Buffer, plaintext: Buffer): Sealed {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", dek, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

/** Opens a sealed value; throws when the tag does not verify. The caller zeroes the result. */
export function open(dek: Buffer, sealed: Sealed): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", dek, sealed.iv);
  decipher.setAuthTag(sealed.tag);
  return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
}

/** A fresh data key from KMS (GenerateDataKey AES_256), as the app makes one per record. */
export async function generateDataKey(kms: KMSClient, keyId: string): Promise<{ plaintext: Buffer; wrapped: Buffer }> {
  const out = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256" }));
  if (!out.Plaintext || !out.CiphertextBlob) throw failure("GenerateDataKey returned no key", { code: "envelope.kms" });
  return { plaintext: Buffer.from(out.Plaintext), wrapped: Buffer.from(out.CiphertextBlob) };
}

/** Encrypt a value the way the Drop app does: one DEK per record, zeroed after use. */
export async function encryptEnvelope(kms: KMSClient, keyId: string, plaintext: Buffer): Promise<string> {
  const dek = await generateDataKey(kms, keyId);
  try {
    return formatEnvelope({ wrappedDek: dek.wrapped, ...seal(dek.plaintext, plaintext) });
  } finally {
    dek.plaintext.fill(0);
  }
}

/** Unwrap a DEK with KMS Decrypt; `keyId` makes KMS refuse a DEK wrapped under another key. */
export async function unwrapDek(kms: KMSClient, wrapped: Buffer, keyId?: string): Promise<{ dek: Buffer; keyId: string | undefined }> {
  const out = await kms.send(new DecryptCommand({ CiphertextBlob: wrapped, ...(keyId ? { KeyId: keyId } : {}) }));
  if (!out.Plaintext) throw failure("Decrypt returned no plaintext", { code: "envelope.kms" });
  return { dek: Buffer.from(out.Plaintext), keyId: out.KeyId };
}

/** Decrypt a combined envelope (tests and verification only; the caller zeroes the result). */
export async function decryptEnvelope(kms: KMSClient, value: unknown, wrappedDekBytes: number, ref?: RowRef): Promise<Buffer> {
  const envelope = parseEnvelope(value, wrappedDekBytes, ref);
  const { dek } = await unwrapDek(kms, envelope.wrappedDek);
  try {
    return open(dek, envelope);
  } finally {
    dek.fill(0);
  }
}

/** The wrapped-DEK length this KMS produces for a key: one GenerateDataKeyWithoutPlaintext. */
export async function measureWrappedDekBytes(kms: KMSClient, keyId: string): Promise<number> {
  const out = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, KeySpec: "AES_256" }));
  if (!out.CiphertextBlob) throw failure("GenerateDataKeyWithoutPlaintext returned no blob", { code: "envelope.kms" });
  return out.CiphertextBlob.length;
}

/** The policy's length, or the measured one when the policy says `auto` (measured once per run and key). */
export async function resolveWrappedDekBytes(setting: number | "auto", kms: KMSClient, keyId: string, cache = measuredLengths): Promise<number> {
  if (setting !== "auto") return setting;
  const cached = cache.get(keyId);
  if (cached !== undefined) return cached;
  const measured = await measureWrappedDekBytes(kms, keyId);
  cache.set(keyId, measured);
  return measured;
}

const measuredLengths = new Map<string, number>();
