/**
 * The admin token (or OIDC bearer token) of this browser tab: in sessionStorage only (gone when the tab
 * closes), never in a URL, a cookie or a log. Signing out removes it.
 */
const KEY = 'pullthrough.console.token';

export const session = {
  token(): string | undefined {
    return sessionStorage.getItem(KEY) ?? undefined;
  },
  signIn(token: string): void {
    sessionStorage.setItem(KEY, token);
  },
  signOut(): void {
    sessionStorage.removeItem(KEY);
  },
};
