import type { NextFunction, Request, Response } from 'express';

export interface FieldIssue {
  field: string;
  message: string;
}

/** An admin API error, rendered as RFC 9457 problem JSON. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldIssue[],
  ) {
    super(detail ?? title);
  }
}

export function sendProblem(res: Response, problem: { status: number; title: string; detail?: string; errors?: FieldIssue[] }): void {
  res
    .status(problem.status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: 'about:blank',
        title: problem.title,
        status: problem.status,
        ...(problem.detail ? { detail: problem.detail } : {}),
        ...(problem.errors ? { errors: problem.errors } : {}),
      }),
    );
}

/** The admin plane's error middleware: problem JSON for everything; unknown errors are logged, not leaked. */
export function problemMiddleware(log: (err: unknown) => void) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    if (err instanceof ProblemError) return sendProblem(res, err);
    const e = err as { type?: string; status?: number };
    if (e?.type === 'entity.parse.failed') return sendProblem(res, { status: 400, title: 'Bad Request', detail: 'request body is not valid JSON' });
    if (e?.type === 'entity.too.large') return sendProblem(res, { status: 413, title: 'Payload Too Large' });
    // The router could not percent-decode a path parameter (e.g. `/cache-rules/%zz`): the client's path is wrong.
    if (err instanceof URIError && e.status === 400) return sendProblem(res, { status: 400, title: 'Bad Request', detail: 'the request path is not valid percent-encoding' });
    log(err);
    sendProblem(res, { status: 500, title: 'Internal Server Error' });
  };
}
