import { useEffect, useRef, useState } from 'preact/hooks';
import { api, seg } from './api';
import { Field, ProblemBox, Status, when } from './ui';

interface HydrationStatus {
  state: 'queued' | 'running' | 'hydrated' | 'failed' | 'unknown';
  digest?: string;
  progress?: { blobsDone: number; blobsTotal: number; bytesDone: number };
  failure?: { code: string; category: string; message: string };
  attempts?: number;
  timings?: { enqueuedAt?: string; startedAt?: string; finishedAt?: string };
}
interface PrefetchAnswer {
  prefetch: ({ reference: string; digest: string; jobId: string } | { reference: string; error: { code: string; message: string } })[];
}

type Target = { repository: string; reference: string; watchUnknownUntil?: number };

const TERMINAL = new Set(['hydrated', 'failed', 'unknown']);
const POLL_MS = 1000;

/** Polls one (repository, reference) until its job reaches a terminal state. */
function useHydration(target: Target | undefined) {
  const [status, setStatus] = useState<HydrationStatus | undefined>(undefined);
  const [problem, setProblem] = useState<unknown>(undefined);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => {
    if (!target) return;
    let stopped = false;
    setStatus(undefined);
    const tick = async () => {
      try {
        const s = await api<HydrationStatus>('GET', `/hydrations?repository=${seg(target.repository)}&reference=${seg(target.reference)}`);
        if (stopped) return;
        setStatus(s);
        setProblem(undefined);
        // `unknown` right after a prefetch may mean "not enqueued yet": keep looking a little while.
        if (!TERMINAL.has(s.state) || (s.state === 'unknown' && (target.watchUnknownUntil ?? 0) > Date.now())) timer.current = window.setTimeout(tick, POLL_MS);
      } catch (err) {
        if (!stopped) setProblem(err);
      }
    };
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer.current);
    };
  }, [target]);
  return { status, problem };
}

function HydrationView({ s, title }: { s: HydrationStatus; title: string }) {
  const p = s.progress;
  return (
    <div class={`card hydration ${s.state}`}>
      <h3>{title}</h3>
      <p>
        State: <span class={`badge state-${s.state}`}>{s.state}</span>
      </p>
      {p && (
        <p>
          <label for="hydration-progress">Blobs</label>{' '}
          <progress id="hydration-progress" max={Math.max(p.blobsTotal, 1)} value={p.blobsDone} /> {p.blobsDone}/{p.blobsTotal} blobs, {p.bytesDone} bytes
        </p>
      )}
      <dl class="facts">
        {s.digest && (
          <>
            <dt>Digest</dt>
            <dd>
              <code>{s.digest}</code>
            </dd>
          </>
        )}
        {s.failure && (
          <>
            <dt>Failure</dt>
            <dd>
              <span class="category">{s.failure.category}</span> {s.failure.code}: {s.failure.message}
            </dd>
          </>
        )}
        {s.attempts !== undefined && (
          <>
            <dt>Attempts</dt>
            <dd>{s.attempts}</dd>
          </>
        )}
        {s.timings && (
          <>
            <dt>Enqueued / started / finished</dt>
            <dd>
              {when(s.timings.enqueuedAt)} / {when(s.timings.startedAt)} / {when(s.timings.finishedAt)}
            </dd>
          </>
        )}
      </dl>
    </div>
  );
}

/** Hydration status lookup with live progress, and prefetch. */
export function HydrationPage() {
  const [lookup, setLookup] = useState({ repository: '', reference: '' });
  const [target, setTarget] = useState<Target | undefined>(undefined);
  const [pf, setPf] = useState({ rule: '', repository: '', references: '' });
  const [pfAnswer, setPfAnswer] = useState<PrefetchAnswer | undefined>(undefined);
  const [pfProblem, setPfProblem] = useState<unknown>(undefined);
  const watched = useHydration(target);

  const look = (e: Event) => {
    e.preventDefault();
    setTarget({ repository: lookup.repository.trim(), reference: lookup.reference.trim() });
  };
  const prefetch = async (e: Event) => {
    e.preventDefault();
    const references = pf.references.split(/[\s,]+/).filter(Boolean);
    try {
      const body = { ...(pf.repository.trim() ? { repository: pf.repository.trim() } : {}), references };
      const answer = await api<PrefetchAnswer>('POST', `/cache-rules/${seg(pf.rule.trim())}/prefetch`, body);
      setPfAnswer(answer);
      setPfProblem(undefined);
      const first = answer.prefetch.find((x) => 'digest' in x);
      if (first && pf.repository.trim()) {
        setLookup({ repository: pf.repository.trim(), reference: first.reference });
        setTarget({ repository: pf.repository.trim(), reference: first.reference, watchUnknownUntil: Date.now() + 10_000 });
      }
    } catch (err) {
      setPfProblem(err);
      setPfAnswer(undefined);
    }
  };

  return (
    <section aria-labelledby="hy-title">
      <h2 id="hy-title">Hydration</h2>
      <form class="card" onSubmit={look} aria-labelledby="hy-lookup-title">
        <h3 id="hy-lookup-title">Status of a repository and reference</h3>
        <div class="grid">
          <Field id="hy-repository" label="Repository" hint="e.g. dockerhub/library/node">
            {(a) => <input {...a} required value={lookup.repository} onInput={(e) => setLookup({ ...lookup, repository: e.currentTarget.value })} />}
          </Field>
          <Field id="hy-reference" label="Tag or digest">
            {(a) => <input {...a} required value={lookup.reference} onInput={(e) => setLookup({ ...lookup, reference: e.currentTarget.value })} />}
          </Field>
        </div>
        <div class="actions">
          <button type="submit">Look up</button>
        </div>
      </form>
      <div aria-live="polite">{watched.status && target && <HydrationView s={watched.status} title={`${target.repository}:${target.reference}`} />}</div>
      <ProblemBox problem={watched.problem} />

      <form class="card" onSubmit={prefetch} aria-labelledby="hy-prefetch-title">
        <h3 id="hy-prefetch-title">Prefetch</h3>
        <p class="hint">Import and hydrate now, without a client pull (operator role).</p>
        <div class="grid">
          <Field id="pf-rule" label="Cache rule">
            {(a) => <input {...a} required value={pf.rule} onInput={(e) => setPf({ ...pf, rule: e.currentTarget.value })} />}
          </Field>
          <Field id="pf-repository" label="Repository" hint="may be empty for a rule with a static target">
            {(a) => <input {...a} value={pf.repository} onInput={(e) => setPf({ ...pf, repository: e.currentTarget.value })} />}
          </Field>
          <Field id="pf-references" label="Tags or digests" hint="separated by commas or spaces">
            {(a) => <input {...a} required value={pf.references} onInput={(e) => setPf({ ...pf, references: e.currentTarget.value })} />}
          </Field>
        </div>
        <div class="actions">
          <button type="submit">Prefetch</button>
        </div>
      </form>
      <Status>
        {pfAnswer &&
          pfAnswer.prefetch.map((x) => (
            <span key={x.reference} class="prefetch-result">
              {'digest' in x ? `${x.reference}: queued (${x.digest})` : `${x.reference}: ${x.error.code} ${x.error.message}`}{' '}
            </span>
          ))}
      </Status>
      <ProblemBox problem={pfProblem} />
    </section>
  );
}
