// Certificates in `status`: each inventory entry of kind certificate with a `check` is read (TLS,
// PEM file or ACM) and alerted on at the policy's lead time before expiry (certificates.leadTime,
// providerLeadTime for provider certificates, or the entry's own alertBefore).
import type { Context } from "../context.js";
import { formatDuration } from "../duration.js";
import { isDropkeysError } from "../errors.js";
import type { CertificateEntry } from "../policy/schema.js";
import { formatLocal } from "../time.js";
import { readAcm } from "./acm.js";
import { readPemFile, readTls, type CertificateFacts } from "./read.js";

const DAY = 86_400_000;

export interface CertificateStatus {
  name: string;
  check: string;
  health: "ok" | "due" | "expired" | "unreadable";
  leadTimeDays: number;
  facts?: CertificateFacts | undefined;
  daysLeft?: number | undefined;
  error?: string | undefined;
}

function leadTimeOf(ctx: Context, entry: CertificateEntry): number {
  return entry.alertBefore ?? (entry.rotation.label === "provider" ? ctx.policy.certificates.providerLeadTime : ctx.policy.certificates.leadTime);
}

export function checkedCertificates(ctx: Context): (CertificateEntry & { check: string })[] {
  return ctx.policy.inventory.filter((e): e is CertificateEntry & { check: string } => e.kind === "certificate" && typeof e.check === "string");
}

async function read(ctx: Context, entry: CertificateEntry & { check: string }): Promise<CertificateFacts> {
  const check = entry.check;
  if (check.startsWith("file:")) return readPemFile(check.slice("file:".length));
  if (check.startsWith("acm:")) return readAcm(ctx, check.slice("acm:".length));
  const url = new URL(check);
  return readTls(url.hostname.replace(/^\[|\]$/g, ""), Number(url.port), { timeoutMs: ctx.policy.certificates.timeout, sni: entry.sni });
}

export async function certificateStatuses(ctx: Context, at: Date): Promise<CertificateStatus[]> {
  return Promise.all(
    checkedCertificates(ctx).map(async (entry): Promise<CertificateStatus> => {
      const lead = leadTimeOf(ctx, entry);
      const base = { name: entry.name, check: entry.check, leadTimeDays: Math.round((lead / DAY) * 100) / 100 };
      let facts: CertificateFacts;
      try {
        facts = await read(ctx, entry);
      } catch (error) {
        if (!isDropkeysError(error)) throw error;
        return { ...base, health: "unreadable", error: error.message };
      }
      const left = new Date(facts.notAfter).getTime() - at.getTime();
      const health = left <= 0 ? "expired" : left <= lead ? "due" : "ok";
      return { ...base, health, facts, daysLeft: Math.floor(left / DAY) };
    }),
  );
}

/** "9d 23h" until the time, to the hour. */
function inHours(iso: string, at: Date): string {
  return formatDuration(Math.round((new Date(iso).getTime() - at.getTime()) / 3_600_000) * 3_600_000);
}

/** The lines `status` prints for the certificates. */
export function certificateLines(certs: CertificateStatus[], at: Date, c: { red(s: string): string; yellow(s: string): string; green(s: string): string; dim(s: string): string }): string[] {
  if (!certs.length) return [];
  const lines = ["", "Certificates:"];
  for (const cert of certs) {
    if (!cert.facts) {
      lines.push(`${c.red("!")} ${cert.name} (${cert.check}): cannot read the certificate: ${cert.error}`);
      continue;
    }
    const f = cert.facts;
    const when = `expires ${formatLocal(new Date(f.notAfter))}`;
    const state =
      cert.health === "expired"
        ? c.red(`EXPIRED (${when})`)
        : cert.health === "due"
          ? c.red(`renew now: ${when}, in ${inHours(f.notAfter, at)} (alert ${formatDuration(cert.leadTimeDays * DAY)} before)`)
          : c.green(`ok, ${when} (in ${inHours(f.notAfter, at)})`);
    lines.push(`${cert.health === "ok" ? c.dim("-") : c.red("!")} ${cert.name}: ${state}`);
    lines.push(`    ${f.subject}; issuer ${f.issuer}; ${f.keyType}; from ${cert.check}`);
    for (const w of f.warnings) lines.push(`    ${c.yellow("warning:")} ${w}`);
  }
  return lines;
}
