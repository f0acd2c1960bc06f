import { useState } from 'preact/hooks';
import { api, ApiProblem } from './api';
import { session } from './session';
import { ProblemBox } from './ui';

/**
 * The admin token or an OIDC access token, pasted. It is checked with one read of the API, kept in
 * sessionStorage (this tab only), and sent only as `Authorization: Bearer` to this cache's own API.
 */
export function SignIn({ onSignedIn, reason }: { onSignedIn: () => void; reason?: ApiProblem | undefined }) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState<unknown>(reason);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const value = token.trim();
    if (!value) return setProblem(new ApiProblem(0, 'Paste a token first'));
    setBusy(true);
    session.signIn(value);
    try {
      await api('GET', '/cache-rules');
      setToken('');
      onSignedIn();
    } catch (err) {
      session.signOut();
      setProblem(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="sign-in">
      <h1>pullthrough console</h1>
      <form class="card" method="post" onSubmit={submit} aria-labelledby="sign-in-title">
        <h2 id="sign-in-title">Sign in</h2>
        <p class="hint">
          Paste the admin token (<code>data/admin-token</code>, or <code>PULLTHROUGH_ADMIN_TOKEN</code>) or an OIDC access token. It stays in this browser tab (session storage) and is
          sent only to this cache's admin API.
        </p>
        <div class="field">
          <label for="token">Admin or OIDC bearer token</label>
          <input id="token" name="token" type="password" autoComplete="off" spellcheck={false} value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        </div>
        <div class="actions">
          <button type="submit" disabled={busy}>
            Sign in
          </button>
        </div>
        <ProblemBox problem={problem} />
      </form>
    </main>
  );
}
