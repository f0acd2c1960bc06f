/** Does a webhook's scope (repository pattern, `*` = any characters) cover a repository? No scope: everything. */
export function scopeMatches(scope: string | undefined, repository: string): boolean {
  if (scope === undefined || scope === '' || scope === '*') return true;
  const pattern = scope
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`).test(repository);
}
