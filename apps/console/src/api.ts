import { session } from './session';

/** One field-level issue of an admin API problem (`errors[]`: `{field, message}`). */
export interface FieldIssue {
  field: string;
  message: string;
}

/** An RFC 9457 problem answered by the admin API (or made up here when the request failed before one). */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly errors: FieldIssue[] = [],
  ) {
    super(detail ?? title);
  }
}

/** Called when the API refuses the token (401): the app goes back to the sign-in form. */
let onUnauthorized: (problem: ApiProblem) => void = () => undefined;
export function whenUnauthorized(handler: (problem: ApiProblem) => void): void {
  onUnauthorized = handler;
}

async function problemOf(res: Response): Promise<ApiProblem> {
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // not JSON: status text only
  }
  const errors = Array.isArray(body.errors) ? (body.errors as FieldIssue[]).filter((e) => typeof e?.field === 'string' && typeof e?.message === 'string') : [];
  return new ApiProblem(res.status, typeof body.title === 'string' ? body.title : res.statusText || `HTTP ${res.status}`, typeof body.detail === 'string' ? body.detail : undefined, errors);
}

/** A call to the admin API (`/api/v1<path>`) with the session's bearer token; a problem answer throws ApiProblem. */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const token = session.token();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  } catch (err) {
    throw new ApiProblem(0, 'The cache did not answer', (err as Error).message);
  }
  if (!res.ok) {
    const problem = await problemOf(res);
    if (res.status === 401) onUnauthorized(problem);
    throw problem;
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** `encodeURIComponent` for one path segment. */
export const seg = (s: string) => encodeURIComponent(s);
