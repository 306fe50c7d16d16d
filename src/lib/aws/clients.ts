// The one place AWS clients are made: region per key, endpoint override (emulators, VPC
// interface endpoints), the SDK's own credential chain, adaptive retries.
import { createRequire } from "node:module";
import type { ACMClient } from "@aws-sdk/client-acm";
import type { AthenaClient } from "@aws-sdk/client-athena";
import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import type { KMSClient } from "@aws-sdk/client-kms";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { STSClient } from "@aws-sdk/client-sts";
import type { AwsCredentialIdentityProvider } from "@aws-sdk/types";
import type { Policy } from "../policy/schema.js";

export type AwsService = "kms" | "secretsmanager" | "s3" | "sts" | "cloudtrail" | "acm" | "athena";

export interface AwsOptions {
  /** --endpoint-url: one URL for every service (highest precedence). */
  endpointUrl?: string | undefined;
  /** The policy's `endpoints` section: per service, one URL or one per region. */
  endpoints?: Policy["endpoints"];
  profile?: string | undefined;
  /** Asked when a profile needs an MFA code; only given on a TTY. */
  mfaCodeProvider?: ((serial: string) => Promise<string>) | undefined;
  maxAttempts?: number | undefined;
  /** Longest wait for one attempt of a call (connecting, then each response); policy `awsTimeout`. */
  timeoutMs?: number | undefined;
  /** Longest time one call may take with all its retries (throttling backoff included). */
  deadlineMs?: number | undefined;
}

/** Default per-attempt bound of every AWS call: 10 s. */
export const DEFAULT_AWS_TIMEOUT_MS = 10_000;

/**
 * Every AWS call bounded: the SDK's request handler gives up on a connection that does not open
 * and on a response that does not come within `timeoutMs` (a TimeoutError), per attempt; the
 * retry mode's maxAttempts bounds the attempts.
 */
export function boundedRequestHandler(timeoutMs: number = DEFAULT_AWS_TIMEOUT_MS): { requestHandler: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: boolean } } {
  return { requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true } };
}

interface DeadlineClient {
  middlewareStack: { add(middleware: (next: (args: unknown) => Promise<unknown>) => (args: unknown) => Promise<unknown>, options: { step: "initialize"; name: string }): void };
}

/**
 * Each call as a whole (every attempt, every retry and backoff) ends within `ms`: per-attempt
 * timeouts alone do not bound an endpoint that keeps answering "throttled". A call cut off here
 * fails as a TimeoutError, which the pipeline journals as "unknown: the call did not return".
 */
function withDeadline(client: DeadlineClient, ms: number): void {
  client.middlewareStack.add(
    (next) => (args) => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms / 1000} s, retries included (policy awsDeadline)`), { name: "TimeoutError" })), ms);
      });
      return Promise.race([next(args), deadline]).finally(() => clearTimeout(timer));
    },
    { step: "initialize", name: "dropkeysCallDeadline" },
  );
}

/**
 * The endpoint for a service in a region, by precedence: --endpoint-url, then the policy's
 * `endpoints`, else undefined so the SDK applies AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL.
 */
export function resolveEndpoint(options: AwsOptions, service: AwsService, region: string): string | undefined {
  if (options.endpointUrl) return options.endpointUrl;
  const configured = options.endpoints?.[service];
  if (typeof configured === "string") return configured;
  if (configured) return configured[region];
  return undefined;
}

type ClientFactory<T> = (config: Record<string, unknown>) => T;

// Each SDK package is loaded the first time a client of it is made, not when this module is: a
// command that needs one client (or none) does not pay for five (start-up time and ~20 MB of
// resident memory). The packages are CommonJS without an "exports" map, so require() returns
// the very module instance a static import elsewhere gets, synchronously, and the accessors
// below stay synchronous for their callers.
const requireSdk = createRequire(import.meta.url);
const sdk = {
  kms: () => (requireSdk("@aws-sdk/client-kms") as typeof import("@aws-sdk/client-kms")).KMSClient,
  secretsmanager: () => (requireSdk("@aws-sdk/client-secrets-manager") as typeof import("@aws-sdk/client-secrets-manager")).SecretsManagerClient,
  s3: () => (requireSdk("@aws-sdk/client-s3") as typeof import("@aws-sdk/client-s3")).S3Client,
  sts: () => (requireSdk("@aws-sdk/client-sts") as typeof import("@aws-sdk/client-sts")).STSClient,
  acm: () => (requireSdk("@aws-sdk/client-acm") as typeof import("@aws-sdk/client-acm")).ACMClient,
  athena: () => (requireSdk("@aws-sdk/client-athena") as typeof import("@aws-sdk/client-athena")).AthenaClient,
  cloudtrail: () => (requireSdk("@aws-sdk/client-cloudtrail") as typeof import("@aws-sdk/client-cloudtrail")).CloudTrailClient,
  credentialChain: () => (requireSdk("@aws-sdk/credential-providers") as typeof import("@aws-sdk/credential-providers")).fromNodeProviderChain,
};

export class AwsClients {
  private readonly cache = new Map<string, unknown>();
  private credentials: AwsCredentialIdentityProvider | undefined;

  constructor(private readonly options: AwsOptions) {}

  kms(region: string): KMSClient {
    return this.client("kms", region, (c) => new (sdk.kms())(c));
  }
  secrets(region: string): SecretsManagerClient {
    return this.client("secretsmanager", region, (c) => new (sdk.secretsmanager())(c));
  }
  s3(region: string): S3Client {
    return this.client("s3", region, (c) => new (sdk.s3())(c));
  }
  sts(region: string): STSClient {
    return this.client("sts", region, (c) => new (sdk.sts())(c));
  }
  cloudtrail(region: string): CloudTrailClient {
    return this.client("cloudtrail", region, (c) => new (sdk.cloudtrail())(c));
  }
  acm(region: string): ACMClient {
    return this.client("acm", region, (c) => new (sdk.acm())(c));
  }
  athena(region: string): AthenaClient {
    return this.client("athena", region, (c) => new (sdk.athena())(c));
  }

  /** The endpoint a service uses in a region ("AWS" when the SDK decides), for messages. */
  endpointFor(service: AwsService, region: string): string {
    return resolveEndpoint(this.options, service, region) ?? process.env[`AWS_ENDPOINT_URL_${envName(service)}`] ?? process.env.AWS_ENDPOINT_URL ?? "AWS";
  }

  private client<T>(service: AwsService, region: string, make: ClientFactory<T>): T {
    const key = `${service}:${region}`;
    let client = this.cache.get(key) as T | undefined;
    if (!client) {
      const endpoint = resolveEndpoint(this.options, service, region);
      client = make({
        region,
        ...(endpoint ? { endpoint } : {}),
        ...(service === "s3" && (endpoint || process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL) ? { forcePathStyle: true } : {}),
        credentials: this.credentialProvider(),
        // Adaptive retries back off on throttling; AWS_RETRY_MODE / AWS_MAX_ATTEMPTS still win.
        ...(process.env.AWS_RETRY_MODE ? {} : { retryMode: "adaptive" }),
        ...(this.options.maxAttempts ? { maxAttempts: this.options.maxAttempts } : {}),
        ...boundedRequestHandler(this.options.timeoutMs),
      });
      if (this.options.deadlineMs) withDeadline(client as unknown as DeadlineClient, this.options.deadlineMs);
      this.cache.set(key, client);
    }
    return client;
  }

  private credentialProvider(): AwsCredentialIdentityProvider {
    this.credentials ??= sdk.credentialChain()({
      ...(this.options.profile ? { profile: this.options.profile } : {}),
      ...(this.options.mfaCodeProvider ? { mfaCodeProvider: this.options.mfaCodeProvider } : {}),
    });
    return this.credentials;
  }
}

function envName(service: AwsService): string {
  return { kms: "KMS", secretsmanager: "SECRETS_MANAGER", s3: "S3", sts: "STS", cloudtrail: "CLOUDTRAIL", acm: "ACM", athena: "ATHENA" }[service];
}
