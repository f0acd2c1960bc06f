import { useEffect, useState } from 'preact/hooks';
import { api, seg } from './api';
import { VerifyAction } from './verify-steps';
import { StackedBar } from './charts';
import { RuleSeries } from './rule-series';
import { ColumnHeads, ProblemBox, Status, useLoad, when } from './ui';

interface Breaker {
  upstream: string;
  state: string;
  failures: number;
  rejects: number;
  retryAfterSeconds?: number;
  lastFailure?: string;
}
export interface RuleHealth {
  name: string;
  state: 'healthy' | 'degraded' | 'failing' | 'unknown';
  scope: string;
  upstream: string;
  credentialSetName?: string;
  lastSuccess?: string;
  lastFailure?: { category: string; message: string; time: string };
  lastServedBy?: { upstream: string; fallback: boolean; time: string };
  recent: { windowSeconds: number; hits: number; misses: number; stale: number; errors: number };
  breaker: Breaker;
  rateLimit: { limit?: number; remaining?: number; headroom?: number; retryAfterUntil?: string };
  fallbacks?: { upstream: string; breaker: Breaker }[];
}
interface Summary {
  states: Record<string, number>;
  scope: string;
  cacheRules: RuleHealth[];
}
interface UpstreamStatus extends Breaker {
  totals: { requests: number; failures: number; rejects: number };
  rateLimit?: RuleHealth['rateLimit'];
}

function headroomText(r: RuleHealth['rateLimit']): string {
  if (r.headroom === undefined) return 'not reported by the upstream';
  const text = `${Math.round(r.headroom * 100)}% (${r.remaining} of ${r.limit} left)`;
  return r.retryAfterUntil ? `${text}, asked to wait until ${when(r.retryAfterUntil)}` : text;
}

export function RuleHealthCard({ h, tick }: { h: RuleHealth; tick: number }) {
  const total = h.recent.hits + h.recent.stale + h.recent.misses + h.recent.errors;
  return (
    <article class={`card health ${h.state}`} aria-labelledby={`health-${h.name}`}>
      <h3 id={`health-${h.name}`}>
        {h.name} <span class={`badge ${h.state}`}>{h.state}</span>
      </h3>
      <dl class="facts">
        <dt>Upstream</dt>
        <dd>
          <code>{h.upstream}</code>
          {h.credentialSetName && <> with credential set {h.credentialSetName}</>}
        </dd>
        <dt>Last {Math.round(h.recent.windowSeconds / 60)} minutes</dt>
        <dd>
          hits {h.recent.hits}, misses {h.recent.misses}, stale {h.recent.stale}, errors {h.recent.errors}
          {total > 0 && <> (served from the cache {Math.round(((h.recent.hits + h.recent.stale) / total) * 100)}%)</>}
        </dd>
        <dt>Last success</dt>
        <dd>{when(h.lastSuccess)}</dd>
        <dt>Last failure</dt>
        <dd>
          {h.lastFailure ? (
            <>
              <span class="category">{h.lastFailure.category}</span> {h.lastFailure.message} <small>({when(h.lastFailure.time)})</small>
            </>
          ) : (
            'none'
          )}
        </dd>
        <dt>Breaker</dt>
        <dd>
          {h.breaker.state}
          {h.breaker.retryAfterSeconds !== undefined && <>, retry in {h.breaker.retryAfterSeconds} s</>}
          {h.fallbacks?.map((f) => (
            <span key={f.upstream}>
              ; fallback <code>{f.upstream}</code> {f.breaker.state}
            </span>
          ))}
        </dd>
        <dt>Rate-limit headroom</dt>
        <dd>{headroomText(h.rateLimit)}</dd>
        <dt>Counted by</dt>
        <dd>{h.scope === 'shared' ? 'every frontend (shared)' : 'this frontend only (local)'}</dd>
      </dl>
      <StackedBar
        title={`Recent pulls of ${h.name}`}
        slices={[
          { label: 'hits', value: h.recent.hits, kind: 'hit' },
          { label: 'stale', value: h.recent.stale, kind: 'stale' },
          { label: 'misses', value: h.recent.misses, kind: 'miss' },
          { label: 'errors', value: h.recent.errors, kind: 'error' },
        ]}
      />
      <RuleSeries name={h.name} tick={tick} />
      {/* `POST .../cache-rules/{name}/verify`: the rule's upstream and credential set, live, step by step (operator). */}
      <VerifyAction path={`/cache-rules/${seg(h.name)}/verify`} name={h.name} text="Verify upstream" secondary />
    </article>
  );
}

/** Rule health at a glance, and the upstreams' breakers. */
export function HealthPage() {
  const summary = useLoad(() => api<Summary>('GET', '/health/cache-rules'));
  const upstreams = useLoad(() => api<{ upstreams: UpstreamStatus[] }>('GET', '/upstreams'));
  const [tick, setTick] = useState(0);
  const refresh = () => {
    setTick((t) => t + 1);
    summary.reload();
    upstreams.reload();
  };
  const [auto, setAuto] = useState(false);
  useEffect(() => {
    if (!auto) return;
    const timer = window.setInterval(refresh, 15_000);
    return () => window.clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [auto]);
  return (
    <section aria-labelledby="health-title">
      <div class="page-head">
        <h2 id="health-title">Rule health</h2>
        <div class="row-actions">
          <label class="inline">
            <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.currentTarget.checked)} /> Refresh every 15 s
          </label>
          <button type="button" onClick={refresh}>
            Refresh
          </button>
        </div>
      </div>
      <Status>{summary.loading ? 'Loading…' : summary.data ? `Updated ${new Date().toLocaleTimeString()}` : ''}</Status>
      <ProblemBox problem={summary.problem} />
      {summary.data && (
        <>
          <p class="states">
            {(['healthy', 'degraded', 'failing', 'unknown'] as const).map((s) => (
              <span key={s} class={`badge ${s}`}>
                {s}: {summary.data!.states[s] ?? 0}
              </span>
            ))}
          </p>
          {summary.data.cacheRules.length === 0 && <p>No cache rules.</p>}
          <div class="cards">
            {summary.data.cacheRules.map((h) => (
              <RuleHealthCard key={h.name} h={h} tick={tick} />
            ))}
          </div>
        </>
      )}
      <h2 id="upstreams-title">Upstreams and their breakers</h2>
      <ProblemBox problem={upstreams.problem} />
      {upstreams.data && upstreams.data.upstreams.length === 0 && <p>No upstream contacted since start.</p>}
      {upstreams.data && upstreams.data.upstreams.length > 0 && (
        <div class="table-wrap">
          <table aria-labelledby="upstreams-title">
            <ColumnHeads names={['Upstream', 'Breaker', 'Requests', 'Failures', 'Refused while open', 'Rate-limit headroom', 'Last failure']} />
            <tbody>
              {upstreams.data.upstreams.map((u) => (
                <tr key={u.upstream}>
                  <th scope="row">
                    <code>{u.upstream}</code>
                  </th>
                  <td>{u.state}</td>
                  <td>{u.totals.requests}</td>
                  <td>{u.totals.failures}</td>
                  <td>{u.totals.rejects}</td>
                  <td>{u.rateLimit ? headroomText(u.rateLimit) : '—'}</td>
                  <td>{u.lastFailure ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export const ruleHealthPath = (name: string) => `/cache-rules/${seg(name)}/health`;
