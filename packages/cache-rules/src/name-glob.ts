/**
 * Globs for allow-lists. Repository globs match the UPSTREAM repository path segment by segment:
 * `*` matches any characters within one segment (`library/*` matches `library/nginx`, not
 * `library/a/b`), a whole `**` segment matches across segments (`bitnami/**` matches everything
 * under `bitnami/`, `**` alone every repository, `**\/nginx` also `nginx`). Tag globs: `*` matches
 * any run of characters (`1.*`, `*-alpine`, `*`). Everything else matches literally.
 */
const REPOSITORY_SEGMENT = /^[a-z0-9._*-]+$/;
const TAG_GLOB = /^[A-Za-z0-9._*-]{1,128}$/;

const escape = (text: string) => text.replace(/[.\\+?^${}()|[\]]/g, '\\$&');

/** Problems with a repository glob (empty means valid). */
export function repositoryGlobIssues(glob: string): string[] {
  if (glob === '') return ['must not be empty'];
  if (glob.length > 255) return ['must be at most 255 characters'];
  const issues: string[] = [];
  for (const segment of glob.split('/')) {
    if (segment === '') issues.push('must not contain an empty path segment (leading, trailing or double "/")');
    else if (segment.includes('**') && segment !== '**') issues.push('"**" must be a whole path segment (e.g. bitnami/**)');
    else if (!REPOSITORY_SEGMENT.test(segment)) issues.push(`segment "${segment}" may hold only lowercase letters, digits, ".", "_", "-" and "*"`);
  }
  return [...new Set(issues)];
}

/** A compiled repository glob (validate with repositoryGlobIssues first). */
export function repositoryGlob(glob: string): RegExp {
  const segments = glob.split('/');
  let re = '';
  let leadingAny = false;
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '**') {
      if (i === 0 && last) re += '.+';
      else if (i === 0) (re += '(?:[^/]+/)*', (leadingAny = true));
      else if (last) re += '/.+';
      else re += '(?:/[^/]+)*';
      return;
    }
    if (i > 0 && !(i === 1 && leadingAny)) re += '/';
    re += escape(segment).replace(/\*/g, '[^/]*');
  });
  return new RegExp(`^${re}$`);
}

/** Problems with a tag glob (empty means valid). */
export function tagGlobIssues(glob: string): string[] {
  if (glob === '') return ['must not be empty'];
  return TAG_GLOB.test(glob) ? [] : ['a tag glob may hold only letters, digits, ".", "_", "-" and "*" (at most 128 characters)'];
}

/** A compiled tag glob (validate with tagGlobIssues first). */
export function tagGlob(glob: string): RegExp {
  return new RegExp(`^${escape(glob).replace(/\*/g, '.*')}$`);
}
