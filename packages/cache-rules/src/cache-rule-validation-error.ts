/** One problem with one field, e.g. `{ field: 'platforms[1]', message: 'must look like os/arch ...' }`. */
export interface ValidationIssue {
  field: string;
  message: string;
}

/**
 * A cache rule, or a set of them, is invalid. Carries every issue found (not only the first),
 * each naming its field, so an admin API can answer 400 with all of them at once.
 */
export class CacheRuleValidationError extends Error {
  readonly code = 'RULE_INVALID';
  readonly issues: ValidationIssue[];

  constructor(issues: readonly ValidationIssue[]) {
    super(`invalid cache rule: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
    this.name = new.target.name;
    this.issues = issues.map((i) => ({ field: i.field, message: i.message }));
  }
}

/** `['platforms', 1]` -> `platforms[1]`; `['rules', 2, 'name']` -> `rules[2].name`; `[]` -> `rule`. */
export function fieldName(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? 'rule' : out;
}
