// The AWS checks: whose credentials resolve (identity, session expiry, MFA, where from), whether
// every endpoint dropkeys would call answers in time, and whether the local clock agrees with
// AWS's (SigV4 requests are refused when the clock is more than 5 minutes off).
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import type { AwsService } from "../aws/clients.js";
import type { Context } from "../context.js";
import { awsEntries, regionOf } from "../policy/load.js";
import { ok, problem, reason, warning, withTimeout, type CheckResult } from "./check.js";

const CLOCK_WARN_MS = 30_000;
const EXPIRY_WARN_MS = 15 * 60_000;

/** The time limit of one AWS call: the policy's `awsTimeout` (default 10 s). */
export function awsTimeoutMs(ctx: Context): number {
  return ctx.policy.awsTimeout;
}

export async function credentials(ctx: Context): Promise<CheckResult> {
  const timeout = awsTimeoutMs(ctx);
  const sts = ctx.aws.sts(ctx.defaultRegion);
  try {
    const creds = await withTimeout(sts.config.credentials(), timeout, "resolving credentials");
    const id = await sts.send(new GetCallerIdentityCommand({}), { abortSignal: AbortSignal.timeout(timeout) });
    const source = credentialSource(creds as { $source?: Record<string, unknown> });
    const mfa = mfaUsed(ctx, source);
    const expires = creds.expiration;
    const parts = [`${id.Arn ?? "?"} (account ${id.Account ?? "?"})`, `from ${source}`];
    parts.push(expires ? `session expires ${expires.toISOString()}` : "long-term keys (no expiry)");
    parts.push(`MFA ${mfa}`);
    const facts = { arn: id.Arn, account: id.Account, source, expires: expires?.toISOString(), mfa };
    if (expires && expires.getTime() - Date.now() < EXPIRY_WARN_MS) {
      return warning("aws.credentials", parts.join(", "), "Renew the session now (e.g. `aws sso login`): it ends within 15 minutes, possibly mid-operation.", facts);
    }
    return ok("aws.credentials", parts.join(", "), facts);
  } catch (error) {
    return problem(
      "aws.credentials",
      `no AWS identity: ${reason(error)} (STS ${ctx.aws.endpointFor("sts", ctx.defaultRegion)})`,
      "Give dropkeys credentials (--profile, AWS_PROFILE, an SSO login or the AWS_* variables) and check the STS endpoint.",
    );
  }
}

const SOURCES: Record<string, string> = {
  CREDENTIALS_ENV_VARS: "environment variables",
  CREDENTIALS_PROFILE: "a profile",
  CREDENTIALS_PROFILE_SOURCE_PROFILE: "a profile's source profile",
  CREDENTIALS_STS_ASSUME_ROLE: "an assumed role",
  CREDENTIALS_SSO: "an SSO login",
  CREDENTIALS_PROFILE_SSO: "an SSO login",
  CREDENTIALS_PROFILE_PROCESS: "a credential process",
  CREDENTIALS_STS_ASSUME_ROLE_WEB_ID: "a web identity token",
  CREDENTIALS_HTTP: "the container credentials endpoint",
  CREDENTIALS_IMDS: "the instance metadata service",
};

/** Where the SDK says the credentials came from (its `$source` markers), in words. */
function credentialSource(creds: { $source?: Record<string, unknown> }): string {
  const keys = Object.keys(creds.$source ?? {});
  const words = keys.map((k) => SOURCES[k]).filter((w): w is string => w !== undefined);
  return words.length > 0 ? [...new Set(words)].join(" via ") : keys.length > 0 ? keys.join(", ").toLowerCase() : "the SDK's default chain";
}

/** "yes" when the profile in use asks for an MFA code (mfa_serial); STS itself does not say. */
function mfaUsed(ctx: Context, source: string): string {
  if (source === "environment variables") return "unknown (environment credentials do not say)";
  const profile = ctx.options.profile ?? process.env.AWS_PROFILE ?? "default";
  const serial = profileSetting(profile, "mfa_serial");
  return serial ? `yes (profile ${profile}, ${serial})` : `no (profile ${profile} has no mfa_serial)`;
}

/** One setting of a profile in the shared config file (AWS_CONFIG_FILE, else ~/.aws/config). */
function profileSetting(profile: string, setting: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(process.env.AWS_CONFIG_FILE ?? path.join(homedir(), ".aws", "config"), "utf8");
  } catch {
    return undefined;
  }
  let inProfile = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const section = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (section) inProfile = section[1] === profile;
    else if (inProfile) {
      const kv = /^([^=#;]+?)\s*=\s*(.*)$/.exec(line);
      if (kv && kv[1] === setting) return kv[2];
    }
  }
  return undefined;
}

interface Probe {
  url: string;
  uses: string[];
  result: CheckResult;
  /** AWS's clock as its Date header said, and our clock at the middle of the request. */
  clock?: { remote: Date; local: Date } | undefined;
}

/** Every endpoint dropkeys would call for this policy: per service, in the regions it is used. */
export function endpointsInUse(ctx: Context): Map<string, string[]> {
  const wanted: [AwsService, string][] = [["sts", ctx.defaultRegion]];
  for (const entry of awsEntries(ctx.policy)) {
    const region = regionOf(ctx.policy, entry);
    if (entry.kind === "kms-key") wanted.push(["kms", region], ["cloudtrail", region]);
    else wanted.push(["secretsmanager", region]);
  }
  if (ctx.policy.endpoints.s3) wanted.push(["s3", ctx.defaultRegion]);
  const byUrl = new Map<string, string[]>();
  for (const [service, region] of wanted) {
    const configured = ctx.aws.endpointFor(service, region);
    const url = configured === "AWS" ? `https://${service === "secretsmanager" ? "secretsmanager" : service}.${region}.amazonaws.com` : configured;
    const uses = byUrl.get(url) ?? [];
    const use = `${service} ${region}`;
    if (!uses.includes(use)) uses.push(use);
    byUrl.set(url, uses);
  }
  return byUrl;
}

/** One HTTP request per endpoint: any answer counts (AWS answers a bare GET with an error document). */
async function probe(url: string, uses: string[], timeout: number): Promise<Probe> {
  const started = Date.now();
  try {
    const response = await fetch(url, { method: "GET", redirect: "manual", signal: AbortSignal.timeout(timeout) });
    await response.arrayBuffer().catch(() => undefined);
    const ms = Date.now() - started;
    const date = response.headers.get("date");
    const clock = date ? { remote: new Date(date), local: new Date((started + Date.now()) / 2) } : undefined;
    return { url, uses, clock, result: ok("endpoint", `${url} answers (HTTP ${response.status}, ${ms} ms) for ${uses.join(", ")}`, { url, uses, ms }) };
  } catch (error) {
    const timedOut = (error as Error).name === "TimeoutError";
    const why = timedOut ? `no answer within ${timeout / 1000} s` : reason(error);
    return {
      url,
      uses,
      result: problem("endpoint", `${url} does not answer (${why}); used for ${uses.join(", ")}`, "Check the address in the policy's `endpoints`, --endpoint-url or AWS_ENDPOINT_URL*, and the network path (VPC endpoint, proxy, firewall).", {
        url,
        uses,
      }),
    };
  }
}

/** The endpoint checks, and the clock check from the first Date header (STS's when it answered). */
export async function endpointsAndClock(ctx: Context): Promise<CheckResult[]> {
  const timeout = awsTimeoutMs(ctx);
  const probes = await Promise.all([...endpointsInUse(ctx)].map(([url, uses]) => probe(url, uses, timeout)));
  const dated = probes.filter((p) => p.clock && !Number.isNaN(p.clock.remote.getTime()));
  const reference = dated.find((p) => p.uses.some((u) => u.startsWith("sts "))) ?? dated[0];
  return [...probes.map((p) => p.result), clockCheck(reference)];
}

function clockCheck(reference: Probe | undefined): CheckResult {
  if (!reference?.clock) return warning("clock", "no endpoint answered with a Date header, so the clock could not be compared", "Fix the endpoints above, then run doctor again.");
  const skew = reference.clock.local.getTime() - reference.clock.remote.getTime();
  const words = `${Math.abs(skew / 1000).toFixed(0)} s ${skew >= 0 ? "ahead of" : "behind"} ${reference.url}`;
  const facts = { skewMs: skew, reference: reference.url };
  // The Date header has whole seconds: a skew under 30 s is within what this can tell.
  if (Math.abs(skew) > CLOCK_WARN_MS) {
    return warning("clock", `the local clock is ${words}: AWS refuses signed requests more than 5 minutes off`, "Synchronise the clock (NTP, e.g. `timedatectl set-ntp true`).", facts);
  }
  return ok("clock", `the local clock is within 30 s of AWS (${words})`, facts);
}
