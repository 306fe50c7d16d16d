// Everything a command needs, built once from the global options: the validated policy, the
// output, AWS clients, the journal and who is acting.
import { hostname, userInfo } from "node:os";
import path from "node:path";
import { AwsClients } from "./aws/clients.js";
import type { GlobalOptions } from "./cli-options.js";
import { failure } from "./errors.js";
import { Journal, type Actor } from "./journal/journal.js";
import { loadPolicy } from "./policy/load.js";
import type { Policy } from "./policy/schema.js";
import { Output } from "./output.js";

export class Context {
  readonly out: Output;
  readonly policy: Policy;
  readonly policyFile: string;
  readonly policySource: string;
  readonly aws: AwsClients;
  /** A person can answer prompts: stdin and stdout are TTYs, and neither --no-input nor CI=true. */
  readonly interactive: boolean;
  /** The region for calls the policy does not pin (STS, CloudTrail default). */
  readonly defaultRegion: string;
  private journalInstance: Journal | undefined;
  private actor: Promise<Actor> | undefined;

  constructor(readonly options: GlobalOptions, out?: Output) {
    this.out = out ?? new Output({ json: options.json, color: options.color, verbose: options.verbose });
    const loaded = loadPolicy(options.policy);
    this.policy = loaded.policy;
    this.policyFile = loaded.file;
    this.policySource = loaded.source;
    this.defaultRegion = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? this.policy.region;
    this.interactive =
      options.input !== false && !isTrue(process.env.CI) && process.stdin.isTTY === true && process.stdout.isTTY === true;
    this.aws = new AwsClients({
      endpointUrl: options.endpointUrl,
      endpoints: this.policy.endpoints,
      profile: options.profile,
      mfaCodeProvider: this.interactive ? askMfaCode : undefined,
      timeoutMs: this.policy.awsTimeout,
      deadlineMs: this.policy.awsDeadline,
    });
  }

  get journalDir(): string {
    return path.resolve(this.options.journal ?? "legal");
  }

  journal(): Journal {
    this.journalInstance ??= new Journal(this.journalDir);
    return this.journalInstance;
  }

  /** Who is acting: the AWS caller identity (STS) plus OS user and host. Fails when STS cannot say. */
  identity(): Promise<Actor> {
    // The STS package is loaded here, not with this module: most commands never ask who acts.
    this.actor ??= import("@aws-sdk/client-sts")
      .then(({ GetCallerIdentityCommand }) => this.aws.sts(this.defaultRegion).send(new GetCallerIdentityCommand({})))
      .then((id) => ({ aws: id.Arn ?? "unknown", account: id.Account, ...localActor() }))
      .catch((error: unknown) => {
        throw failure(`cannot determine your AWS identity (STS GetCallerIdentity): ${(error as Error).message}`, {
          code: "aws.identity",
          hint: "Check your credentials (--profile, AWS_PROFILE, SSO login) and the endpoint.",
          cause: error,
        });
      });
    return this.actor;
  }
}

export function localActor(): { osUser: string; host: string } {
  let osUser = process.env.USER ?? "unknown";
  try {
    osUser = userInfo().username;
  } catch {
    /* no passwd entry (containers) */
  }
  return { osUser, host: hostname() };
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false";
}

/** The SDK's MFA code, asked at the terminal (profiles that assume a role with MFA). */
export async function askMfaCode(serial: string): Promise<string> {
  const { input } = await import("@inquirer/prompts");
  return input({ message: `MFA code for ${serial}:`, validate: (v) => /^\d{6}$/.test(v) || "six digits" });
}

export async function createContext(options: GlobalOptions): Promise<Context> {
  return new Context(options);
}
