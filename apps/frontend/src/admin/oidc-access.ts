import { OidcVerifier, type OidcVerifierOptions } from '@pullthrough/oidc';
import type { FrontendConfig } from '../config.js';
import type { OidcAdminAccess } from './admin-authenticator.js';

/** The admin API's OIDC access from config, or undefined when no issuer is set. */
export function oidcAccess(config: FrontendConfig, dispatcher: OidcVerifierOptions['dispatcher']): OidcAdminAccess | undefined {
  if (!config.PULLTHROUGH_ADMIN_OIDC_ISSUER) return undefined;
  const verifier = new OidcVerifier({
    issuer: config.PULLTHROUGH_ADMIN_OIDC_ISSUER,
    audiences: config.PULLTHROUGH_ADMIN_OIDC_AUDIENCE,
    jwksUrl: config.PULLTHROUGH_ADMIN_OIDC_JWKS_URL,
    clockSkewSeconds: config.PULLTHROUGH_ADMIN_OIDC_CLOCK_SKEW_SECONDS,
    dispatcher,
  });
  return { verifier, roleClaim: config.PULLTHROUGH_ADMIN_OIDC_ROLE_CLAIM, roleMap: config.PULLTHROUGH_ADMIN_OIDC_ROLE_MAP };
}
