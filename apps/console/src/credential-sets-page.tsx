import { api, seg } from './api';
import { VerifyAction } from './verify-steps';
import { ProblemBox, Status, useLoad, when } from './ui';

interface CredentialSet {
  name: string;
  loginServer: string;
  authCredentials?: { name?: string; usernameSecretIdentifier: string; passwordSecretIdentifier: string }[];
  identity?: { type: string; clientId?: string };
  credentialHealth?: { status: 'Healthy' | 'Unhealthy'; errorCode?: string; errorMessage?: string; checkedAt?: string };
}

/** One set: what it is (secret references, never values), its health, and a live verify. */
function CredentialSetCard({ set, onVerified }: { set: CredentialSet; onVerified: () => void }) {
  const h = set.credentialHealth;
  return (
    <article class="card" aria-labelledby={`cs-${set.name}`}>
      <h3 id={`cs-${set.name}`}>
        {set.name} <span class={`badge ${h?.status === 'Unhealthy' ? 'failing' : h?.checkedAt ? 'healthy' : 'unknown'}`}>{h?.status ?? 'Healthy'}</span>
        {!h?.checkedAt && <small class="hint"> not checked yet (no pull or verify has used it)</small>}
      </h3>
      <dl class="facts">
        <dt>Login server</dt>
        <dd>
          <code>{set.loginServer}</code>
        </dd>
        <dt>Credentials</dt>
        <dd>
          {set.identity
            ? `managed identity (${set.identity.type}${set.identity.clientId ? ` ${set.identity.clientId}` : ''})`
            : set.authCredentials?.map((c, i) => (
                <span key={i} class="refs">
                  user <code>{c.usernameSecretIdentifier}</code>, password <code>{c.passwordSecretIdentifier}</code>
                </span>
              ))}
        </dd>
        {h && h.status === 'Unhealthy' && (
          <>
            <dt>Last error</dt>
            <dd>
              <span class="category">{h.errorCode}</span> {h.errorMessage}
            </dd>
          </>
        )}
        {h?.checkedAt && (
          <>
            <dt>Checked</dt>
            <dd>{when(h.checkedAt)}</dd>
          </>
        )}
      </dl>
      <VerifyAction path={`/credential-sets/${seg(set.name)}/verify`} name={set.name} text="Verify" onVerified={onVerified} />
    </article>
  );
}

/** Credential sets with their health and a verify button showing each step. */
export function CredentialSetsPage() {
  const sets = useLoad(() => api<{ credentialSets: CredentialSet[] }>('GET', '/credential-sets'));
  return (
    <section aria-labelledby="cs-title">
      <div class="page-head">
        <h2 id="cs-title">Credential sets</h2>
        <button type="button" onClick={sets.reload}>
          Refresh
        </button>
      </div>
      <p class="hint">Secret references only: the cache never shows or stores a secret value. Create and edit sets with the API or the CLI (admin role).</p>
      <Status>{sets.loading ? 'Loading…' : ''}</Status>
      <ProblemBox problem={sets.problem} />
      {sets.data && sets.data.credentialSets.length === 0 && <p>No credential sets.</p>}
      <div class="cards">
        {sets.data?.credentialSets.map((s) => (
          <CredentialSetCard key={s.name} set={s} onVerified={sets.reload} />
        ))}
      </div>
    </section>
  );
}
