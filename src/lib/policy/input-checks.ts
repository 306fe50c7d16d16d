// Policy problems that the schema alone does not catch but that would crash a command later:
// an unknown time zone, a database URL dropkeys cannot open, an envelope key missing from the
// inventory. Each is a line of the one policy error (exit 2), from `policy check` too.
import type { Policy } from "./schema.js";

/** Aliases a policy file may use: plenty for real YAML, far below an alias bomb. */
export const MAX_YAML_ALIASES = 100;

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** `raw` is the parsed YAML before defaults: an envelope key is checked when the file names one. */
export function inputProblems(policy: Policy, raw: unknown): string[] {
  const problems: string[] = [];
  const zone = (path: string, value: string) => {
    if (!isTimeZone(value)) problems.push(`${path}: "${value}" is not a time zone (expected an IANA name such as "Europe/Oslo")`);
  };
  zone("timezone", policy.timezone);
  zone("businessHours.timezone", policy.businessHours.timezone);
  const url = policy.database?.url;
  if (url !== undefined && !/^(sqlite:|postgres(ql)?:\/\/)/.test(url)) {
    problems.push(`database.url: "${url.replace(/\/\/[^@/]*@/, "//***@")}" is neither sqlite:PATH nor postgres://...`);
  }
  const namesEnvelope = typeof raw === "object" && raw !== null && "envelope" in raw;
  if (namesEnvelope && policy.database && !policy.inventory.some((e) => e.name === policy.envelope.key)) {
    problems.push(`envelope.key: "${policy.envelope.key}" is not an inventory entry (the key that wraps the national-ID DEKs must be listed)`);
  }
  return problems;
}
