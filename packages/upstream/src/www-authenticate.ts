/** One challenge from a `WWW-Authenticate` header: scheme and parameters, names lowercased. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;

/**
 * Parse `WWW-Authenticate` (RFC 9110 §11.6.1): possibly several challenges per header and several
 * headers. Quoted values may hold commas (`scope="repository:a:pull,push"`) and backslash escapes.
 */
export function parseChallenges(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  return (Array.isArray(header) ? header : [header]).flatMap(parseOne);
}

function parseOne(value: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let current: AuthChallenge | undefined;
  let pos = 0;
  const skip = (chars: string): void => {
    while (pos < value.length && chars.includes(value[pos]!)) pos++;
  };
  while (pos < value.length) {
    skip(' \t,');
    TOKEN.lastIndex = pos;
    const word = TOKEN.exec(value)?.[0];
    if (word === undefined) {
      pos++;
      continue;
    }
    pos = TOKEN.lastIndex;
    skip(' \t');
    if (value[pos] !== '=') {
      current = { scheme: word.toLowerCase(), params: {} };
      challenges.push(current);
      continue;
    }
    pos++;
    skip(' \t');
    let param = '';
    if (value[pos] === '"') {
      pos++;
      while (pos < value.length && value[pos] !== '"') {
        if (value[pos] === '\\' && pos + 1 < value.length) pos++;
        param += value[pos];
        pos++;
      }
      pos++;
    } else {
      while (pos < value.length && !', \t'.includes(value[pos]!)) param += value[pos++];
    }
    if (current) current.params[word.toLowerCase()] = param;
  }
  return challenges;
}
