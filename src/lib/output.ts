// Human vs JSON rendering. Human text goes to stdout, progress and warnings to stderr; colour and
// spinners only on a TTY and never under NO_COLOR / --no-color; under --json stdout holds exactly
// one JSON document (or NDJSON lines for streams) and nothing else.
import { Chalk, supportsColor, type ChalkInstance } from "chalk";
import ora, { type Ora } from "ora";
import { isDropkeysError } from "./errors.js";

export interface OutputOptions {
  json: boolean;
  /** false under --no-color; NO_COLOR and a non-TTY stdout also switch colour off. */
  color: boolean;
  verbose: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

export interface Progress {
  update(text: string): void;
  done(text?: string): void;
  fail(text?: string): void;
}

const silentProgress: Progress = { update() {}, done() {}, fail() {} };

export class Output {
  readonly json: boolean;
  readonly verbose: boolean;
  /** Colours for human text; a no-op instance when colour is off. */
  readonly color: ChalkInstance;
  private readonly stdout: NodeJS.WriteStream;
  private readonly stderr: NodeJS.WriteStream;

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.verbose = options.verbose;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    const wanted = options.color && !("NO_COLOR" in process.env && process.env.NO_COLOR !== "") && this.stdout.isTTY === true;
    this.color = new Chalk({ level: wanted ? (supportsColor ? supportsColor.level : 1) || 1 : 0 });
  }

  /** Whether a person is watching stderr: spinners and progress bars only then. */
  get interactiveStderr(): boolean {
    // A terminal that reports no width (some pseudo-terminals) cannot draw a spinner: ora never ends.
    return this.stderr.isTTY === true && !this.json && (this.stderr.columns ?? 0) > 0;
  }

  /** A line of human output; nothing under --json. */
  info(text = ""): void {
    if (!this.json) this.stdout.write(text + "\n");
  }

  /** A warning for people on stderr (JSON line under --json, so stdout stays one document). */
  warn(text: string): void {
    if (this.json) this.stderr.write(JSON.stringify({ warning: text }) + "\n");
    else this.stderr.write(this.color.yellow("warning: ") + text + "\n");
  }

  /** Extra detail only with --verbose, on stderr. */
  debug(text: string): void {
    if (this.verbose) this.stderr.write(this.color.dim(text) + "\n");
  }

  /** The command's result: the JSON document under --json, the human rendering otherwise. */
  result(json: unknown, human: () => string): void {
    if (this.json) this.stdout.write(JSON.stringify(json, null, 2) + "\n");
    else {
      const text = human();
      if (text) this.stdout.write(text.endsWith("\n") ? text : text + "\n");
    }
  }

  /** One NDJSON line (streams under --json / --ndjson). */
  jsonLine(value: unknown): void {
    this.stdout.write(JSON.stringify(value) + "\n");
  }

  /** A spinner on a TTY; silent otherwise (cron logs stay clean). */
  progress(label: string): Progress {
    if (!this.interactiveStderr) return silentProgress;
    const spinner: Ora = ora({ text: label, stream: this.stderr, color: "cyan" }).start();
    return {
      update: (text) => {
        spinner.text = text;
      },
      done: (text) => {
        if (text) spinner.succeed(text);
        else spinner.stop();
      },
      fail: (text) => {
        if (text) spinner.fail(text);
        else spinner.stop();
      },
    };
  }

  /** An error as a person (or, under --json, a program) should see it: message and hint, no stack. */
  error(error: unknown): void {
    if (isDropkeysError(error)) {
      if (this.json) this.stderr.write(JSON.stringify(error.toJSON()) + "\n");
      else {
        this.stderr.write(this.color.red("error: ") + error.message + "\n");
        if (error.hint) this.stderr.write(this.color.dim("hint: ") + error.hint + "\n");
      }
      if (this.verbose && error.cause) this.stderr.write(String((error.cause as Error).stack ?? error.cause) + "\n");
      return;
    }
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.json) this.stderr.write(JSON.stringify({ error: { kind: "internal", message: err.message } }) + "\n");
    else {
      this.stderr.write(this.color.red("internal error: ") + err.message + "\n");
      this.stderr.write(err.stack ? err.stack + "\n" : "");
      this.stderr.write("This is a bug in dropkeys; the journal shows what was done before it.\n");
    }
  }
}

/** A plain text table; widths from the longest cell, colour codes ignored when measuring. */
export function table(header: string[], rows: string[][]): string {
  // eslint-disable-next-line no-control-regex
  const visible = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, "").length;
  const widths = header.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ""))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat(widths[i]! - visible(c))))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
