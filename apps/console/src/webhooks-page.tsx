import { useState } from 'preact/hooks';
import { api, seg } from './api';
import { ColumnHeads, ProblemBox, Status, useLoad, when } from './ui';

interface Webhook {
  name: string;
  serviceUri: string;
  actions: string[];
  scope?: string;
  status?: string;
  cloudEvents?: boolean;
}
interface Delivery {
  eventId: string;
  action: string;
  attempt: number;
  at: string;
  ok: boolean;
  statusCode?: number;
  latencyMs?: number;
  error?: string;
}

function WebhookCard({ hook }: { hook: Webhook }) {
  const [deliveries, setDeliveries] = useState<Delivery[] | undefined>(undefined);
  const [problem, setProblem] = useState<unknown>(undefined);
  const [status, setStatus] = useState('');
  const run = async (f: () => Promise<void>) => {
    try {
      await f();
      setProblem(undefined);
    } catch (err) {
      setProblem(err);
    }
  };
  const load = () => run(async () => setDeliveries((await api<{ deliveries: Delivery[] }>('GET', `/webhooks/${seg(hook.name)}/deliveries`)).deliveries));
  const ping = () =>
    run(async () => {
      await api('POST', `/webhooks/${seg(hook.name)}/ping`);
      setStatus(`Ping queued for ${hook.name}: its delivery shows in the log once the hydrator sends it.`);
    });
  return (
    <article class="card" aria-labelledby={`wh-${hook.name}`}>
      <h3 id={`wh-${hook.name}`}>
        {hook.name} <span class={`badge ${hook.status === 'disabled' ? 'unknown' : 'healthy'}`}>{hook.status ?? 'enabled'}</span>
      </h3>
      <dl class="facts">
        <dt>Sends to</dt>
        <dd>
          <code>{hook.serviceUri}</code>
          {hook.cloudEvents && ' (CloudEvents)'}
        </dd>
        <dt>Actions</dt>
        <dd>{hook.actions.join(', ')}</dd>
        <dt>Scope</dt>
        <dd>{hook.scope ?? 'every repository'}</dd>
      </dl>
      <div class="actions">
        <button type="button" onClick={load} aria-label={`Delivery log of ${hook.name}`}>
          Delivery log
        </button>
        <button type="button" class="secondary" onClick={ping} aria-label={`Ping ${hook.name}`}>
          Ping
        </button>
      </div>
      <Status>{status}</Status>
      <ProblemBox problem={problem} />
      {deliveries && deliveries.length === 0 && <p>No deliveries yet.</p>}
      {deliveries && deliveries.length > 0 && (
        <div class="table-wrap">
          <table aria-label={`Deliveries of ${hook.name}, newest first`}>
            <ColumnHeads names={['When', 'Action', 'Attempt', 'Result', 'Latency']} />
            <tbody>
              {deliveries.map((d) => (
                <tr key={`${d.eventId}-${d.attempt}-${d.at}`}>
                  <td>{when(d.at)}</td>
                  <td>{d.action}</td>
                  <td>{d.attempt}</td>
                  <td>{d.ok ? `ok (${d.statusCode})` : `failed${d.statusCode ? ` (${d.statusCode})` : ''}${d.error ? `: ${d.error}` : ''}`}</td>
                  <td>{d.latencyMs === undefined ? '—' : `${d.latencyMs} ms`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </article>
  );
}

/** Webhooks, their delivery log, and ping. */
export function WebhooksPage() {
  const hooks = useLoad(() => api<{ webhooks: Webhook[] }>('GET', '/webhooks'));
  return (
    <section aria-labelledby="wh-title">
      <div class="page-head">
        <h2 id="wh-title">Webhooks</h2>
        <button type="button" onClick={hooks.reload}>
          Refresh
        </button>
      </div>
      <ProblemBox problem={hooks.problem} />
      {hooks.data && hooks.data.webhooks.length === 0 && <p>No webhooks.</p>}
      <div>
        {hooks.data?.webhooks.map((h) => (
          <WebhookCard key={h.name} hook={h} />
        ))}
      </div>
    </section>
  );
}
