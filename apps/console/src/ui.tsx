import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiProblem } from './api';

/** What a problem means to a person: a role refusal reads as one, not as "error 403". */
function headline(p: ApiProblem): string {
  if (p.status === 403) return 'Refused: your role may not do this (403)';
  if (p.status === 401) return 'Not signed in: the token was refused (401)';
  if (p.status === 0) return p.title;
  return `${p.title} (${p.status})`;
}

/** An API problem, announced to screen readers (role="alert"). */
export function ProblemBox({ problem }: { problem: unknown }) {
  if (!problem) return null;
  const p = problem instanceof ApiProblem ? problem : new ApiProblem(0, 'Something went wrong', String((problem as Error)?.message ?? problem));
  return (
    <div class={`problem ${p.status === 403 ? 'refused' : ''}`} role="alert">
      <strong>{headline(p)}</strong>
      {p.detail && <p>{p.detail}</p>}
      {p.errors.length > 0 && (
        <ul>
          {p.errors.map((e) => (
            <li key={e.field}>
              <code>{e.field}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Load something on mount (and on `reload()`), keeping the last problem. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [problem, setProblem] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const reload = useCallback(() => {
    setLoading(true);
    load()
      .then((d) => {
        setData(d);
        setProblem(undefined);
      })
      .catch(setProblem)
      .finally(() => setLoading(false));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(reload, [reload]);
  return { data, problem, loading, reload };
}

/** A labelled form control with its field-level message (aria-describedby, aria-invalid). */
export function Field(props: { id: string; label: string; hint?: string; error?: string | undefined; children: (attrs: Record<string, unknown>) => ComponentChildren }) {
  const describedBy = [props.hint ? `${props.id}-hint` : '', props.error ? `${props.id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field ${props.error ? 'invalid' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.children({ id: props.id, name: props.id, 'aria-invalid': props.error ? 'true' : undefined, 'aria-describedby': describedBy })}
      {props.hint && (
        <small id={`${props.id}-hint`} class="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <p id={`${props.id}-error`} class="field-error">
          {props.error}
        </p>
      )}
    </div>
  );
}

/** A polite live region for results of async actions. */
export function Status({ children }: { children?: ComponentChildren }) {
  return (
    <p class="status" role="status" aria-live="polite">
      {children}
    </p>
  );
}

/** A table's column headers, in order. */
export function ColumnHeads({ names }: { names: readonly string[] }) {
  return (
    <thead>
      <tr>
        {names.map((n) => (
          <th key={n} scope="col">
            {n}
          </th>
        ))}
      </tr>
    </thead>
  );
}

export const when = (iso: string | number | undefined) => (iso === undefined ? '—' : new Date(iso).toLocaleString());
