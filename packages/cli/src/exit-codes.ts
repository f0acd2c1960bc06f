/** What the CLI's exit status means (README "CLI": exit codes). Scripts branch on these. */
export const EXIT = {
  ok: 0,
  /** The API refused the request (a 4xx other than 401/403/404): validation, conflict, bad query. */
  refused: 1,
  /** Bad flags or arguments, or an unusable config file: nothing was sent. */
  usage: 2,
  /** 404: the rule, credential set, webhook... does not exist. */
  notFound: 3,
  /** 401/403: no token, a bad token, or a role too weak. */
  auth: 4,
  /** The server could not be reached (refused, DNS, TLS, timeout) or answered 5xx. */
  unavailable: 5,
  /** What was checked failed: `hydration status --wait` ended `failed`, a `verify` failed, a prefetch reference failed. */
  failed: 6,
  /** `--wait` gave up before the hydration ended (`--timeout`). */
  timedOut: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error that ends the command with `exitCode`; `usage` also prints the command's usage. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly usage = false,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(EXIT.usage, message, true);
