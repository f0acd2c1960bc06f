const MAX_MESSAGE = 500;

/**
 * A failure message as rule health keeps it (in memory and in Redis). The pull path's errors hold no
 * secret by construction (they are what clients see); this is the second line: a URL loses its user
 * info, query and fragment (signed redirect URLs carry tokens there), an Authorization-style
 * credential (`Bearer <token>`, `Basic <base64>`) and `password=`/`token=`-style pairs lose their value, control
 * characters become spaces, and the whole is cut at 500 characters.
 */
export function sanitizeHealthMessage(message: string): string {
  return message
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, '$1')
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s?#]*)[?#][^\s]*/gi, '$1')
    .replace(/\b(bearer|basic)\s+(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}/gi, '$1 [redacted]')
    .replace(/\b(password|passwd|secret|token|access_token|refresh_token|sig|signature)=[^\s&;,]+/gi, '$1=[redacted]')
    .slice(0, MAX_MESSAGE);
}
