import { useEffect, useState } from 'preact/hooks';
import { ApiProblem, whenUnauthorized } from './api';
import { CredentialSetsPage } from './credential-sets-page';
import { HealthPage } from './health-page';
import { HydrationPage } from './hydration-page';
import { RulesPage } from './rules-page';
import { session } from './session';
import { SignIn } from './sign-in';
import { WebhooksPage } from './webhooks-page';

/** Pages by hash route (`#/rules`): the console is one static index.html, so routes never reach the server. */
const PAGES = [
  { path: 'rules', title: 'Cache rules', Page: RulesPage },
  { path: 'health', title: 'Health', Page: HealthPage },
  { path: 'credential-sets', title: 'Credential sets', Page: CredentialSetsPage },
  { path: 'hydration', title: 'Hydration', Page: HydrationPage },
  { path: 'webhooks', title: 'Webhooks', Page: WebhooksPage },
] as const;

const currentPath = () => location.hash.replace(/^#\/?/, '') || 'rules';

export function App() {
  const [signedIn, setSignedIn] = useState(session.token() !== undefined);
  const [refused, setRefused] = useState<ApiProblem | undefined>(undefined);
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const onHash = () => setPath(currentPath());
    window.addEventListener('hashchange', onHash);
    // A token that stops working (expired OIDC token, rotated admin token): back to the form, saying why.
    whenUnauthorized((problem) => {
      session.signOut();
      setRefused(problem);
      setSignedIn(false);
    });
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const page = PAGES.find((p) => p.path === path) ?? PAGES[0];
  useEffect(() => {
    document.title = signedIn ? `${page.title} · pullthrough console` : 'Sign in · pullthrough console';
  }, [page, signedIn]);

  if (!signedIn)
    return (
      <SignIn
        reason={refused}
        onSignedIn={() => {
          setRefused(undefined);
          setSignedIn(true);
        }}
      />
    );
  const signOut = () => {
    session.signOut();
    setSignedIn(false);
  };
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">pullthrough</span>
        <nav aria-label="Console pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a href={`#/${p.path}`} aria-current={p === page ? 'page' : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="secondary sign-out" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <page.Page />
      </main>
    </>
  );
}
