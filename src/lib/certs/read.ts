// Reading a certificate's public facts (expiry, subject, issuer, key type) from where the policy
// says it lives: a TLS endpoint, a PEM file, or ACM. Only certificates are parsed: a private key in
// the same file is never read. A chain that does not verify, or a wrong host name, is a warning
// beside the facts, not a failure to read them.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { connect, rootCertificates, type TLSSocket } from "node:tls";
import { X509Certificate } from "node:crypto";
import { failure } from "../errors.js";
import { formatDuration } from "../duration.js";

export interface CertificateFacts {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** "ECDSA P-256", "RSA-2048", "Ed25519". */
  keyType: string;
  serialNumber?: string | undefined;
  /** SHA-256 fingerprint of the certificate. */
  fingerprint?: string | undefined;
  warnings: string[];
}

export interface ReadOptions {
  timeoutMs: number;
  sni?: string | undefined;
}

const CURVES: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };

export function keyTypeOf(cert: X509Certificate): string {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec":
      return `ECDSA ${CURVES[details.namedCurve ?? ""] ?? details.namedCurve ?? ""}`.trim();
    case "rsa":
    case "rsa-pss":
      return `RSA-${details.modulusLength ?? "?"}`;
    case "ed25519":
      return "Ed25519";
    default:
      return key.asymmetricKeyType ?? "unknown";
  }
}

const oneLine = (dn: string) => dn.split("\n").filter(Boolean).join(", ");

export function factsOf(cert: X509Certificate, warnings: string[]): CertificateFacts {
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    keyType: keyTypeOf(cert),
    serialNumber: cert.serialNumber,
    fingerprint: cert.fingerprint256,
    warnings,
  };
}

/** "does not match host" for a certificate whose names do not cover `host`. */
function hostWarning(cert: X509Certificate, host: string): string | undefined {
  const ok = isIP(host) ? cert.checkIP(host) : cert.checkHost(host);
  return ok ? undefined : `wrong host name: the certificate is for ${cert.subjectAltName ?? oneLine(cert.subject)}, not ${host}`;
}

/** The certificates of a PEM text, leaf first; anything else in it (a private key) is skipped unread. */
export function certificatesInPem(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** Whether `cert` chains through `bundle` to one of Node's trusted roots; the reason when not. */
export function chainProblem(cert: X509Certificate, bundle: X509Certificate[]): string | undefined {
  const roots = rootCertificates.map((pem) => new X509Certificate(pem));
  let current = cert;
  for (let depth = 0; depth < 10; depth++) {
    const root = roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
    if (root) return undefined;
    const next = bundle.find((c) => c !== current && current.checkIssued(c) && current.verify(c.publicKey));
    if (!next) return current.checkIssued(current) ? "self-signed: does not chain to a trusted root" : `does not chain to a trusted root (issuer ${oneLine(current.issuer)} not found)`;
    if (next.checkIssued(next)) return "does not chain to a trusted root (its root is not trusted)";
    current = next;
  }
  return "does not chain to a trusted root (chain too long)";
}

export function readPemFile(file: string): CertificateFacts {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw failure(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { code: "cert.unreadable" });
  }
  let certs: X509Certificate[];
  try {
    certs = certificatesInPem(text);
  } catch (error) {
    throw failure(`${file}: a CERTIFICATE block does not parse (${(error as Error).message})`, { code: "cert.unreadable" });
  }
  const leaf = certs[0];
  if (!leaf) throw failure(`${file} holds no PEM certificate`, { code: "cert.unreadable" });
  const warnings = [chainProblem(leaf, certs.slice(1))].filter((w): w is string => w !== undefined);
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) warnings.push("the file also holds a private key (not read): keep certificates apart from keys");
  return factsOf(leaf, warnings);
}

/** The leaf certificate a TLS server presents, whether or not it verifies. */
export function readTls(host: string, port: number, options: ReadOptions): Promise<CertificateFacts> {
  const servername = options.sni ?? (isIP(host) ? undefined : host);
  const where = `${host}:${port}${servername && servername !== host ? ` (SNI ${servername})` : ""}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket: TLSSocket = connect({ host, port, ...(servername ? { servername } : {}), rejectUnauthorized: false });
    const done = (error: Error | undefined, facts?: CertificateFacts) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(facts!);
    };
    const timer = setTimeout(
      () => done(failure(`${where}: no TLS handshake within ${formatDuration(options.timeoutMs)}`, { code: "cert.tls-timeout", hint: "Is the host reachable from here? certificates.timeout sets the limit." })),
      options.timeoutMs,
    );
    socket.once("secureConnect", () => {
      const cert = socket.getPeerX509Certificate();
      if (!cert) return done(failure(`${where}: the server presented no certificate`, { code: "cert.tls-no-certificate" }));
      const warnings: string[] = [];
      if (!socket.authorized) warnings.push(`does not verify: ${String(socket.authorizationError ?? "unknown reason")}`);
      const wrongHost = hostWarning(cert, servername ?? host);
      if (wrongHost) warnings.push(wrongHost);
      done(undefined, factsOf(cert, warnings));
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      const message =
        error.code === "ECONNREFUSED"
          ? "connection refused"
          : error.code === "ENOTFOUND" || error.code === "EAI_AGAIN"
            ? `host ${host} not found`
            : error.code === "ECONNRESET" || /wrong version number|packet length too long|handshake/i.test(error.message)
              ? `TLS handshake failed (${error.code ?? error.message})`
              : `${error.code ?? "error"}: ${error.message}`;
      done(failure(`${where}: ${message}`, { code: "cert.tls-failed" }));
    });
  });
}
