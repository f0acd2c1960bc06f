import type { Writable } from 'node:stream';

const REDACTED = '[redacted]';

export interface OutputStreams {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

/**
 * Everything the CLI writes goes through here: results to stdout, messages, warnings, progress
 * and `--verbose` traces to stderr. Any secret registered with `redact` (the admin token) is
 * replaced before a byte is written, whatever the text's origin (an error message, a server body).
 */
export class Output {
  private readonly secrets: string[] = [];

  constructor(private readonly streams: OutputStreams) {}

  /** Never write `secret`: every later write replaces it with `[redacted]`. */
  redact(secret: string | undefined): void {
    if (secret && secret.length >= 4 && !this.secrets.includes(secret)) this.secrets.push(secret);
  }

  private clean(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join(REDACTED);
    return out;
  }

  /** A result line (or block) on stdout; a newline is added when missing. */
  print(text: string): void {
    this.streams.stdout.write(this.clean(text.endsWith('\n') ? text : `${text}\n`));
  }

  /** A JSON document on stdout, exactly as the API sent it (pretty-printed). */
  json(body: unknown): void {
    this.print(JSON.stringify(body, null, 2));
  }

  /** A message on stderr. */
  error(text: string): void {
    this.streams.stderr.write(this.clean(text.endsWith('\n') ? text : `${text}\n`));
  }

  warn(text: string): void {
    this.error(`warning: ${text}`);
  }

  /** Raw bytes on stderr (the progress bar's `\r` redraws); no newline added. */
  stderrRaw(text: string): void {
    this.streams.stderr.write(this.clean(text));
  }

  get stderrIsTTY(): boolean {
    return this.streams.stderr.isTTY === true;
  }

  get stderrColumns(): number {
    // A pseudo-terminal without a size (e.g. under `script`) says 0.
    return this.streams.stderr.columns || 80;
  }
}
