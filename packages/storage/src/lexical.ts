/** Code-unit order: the OCI spec's "lexical" order (what `Array.prototype.sort` does with no comparator). */
export function lexical(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
