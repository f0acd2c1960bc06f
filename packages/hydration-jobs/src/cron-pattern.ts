const CRON_FIELD = /^[0-9A-Za-z*?/,#LW-]+$/;

/**
 * A schedule text that has the shape of a cron pattern (5 fields, or 6 with seconds first, of cron's
 * characters), with its fields joined by single spaces; undefined for anything else. Its fields are
 * checked when the pattern is first used (bullmq's scheduler).
 */
export function cronPatternOf(text: string): string | undefined {
  const fields = text.trim().split(/\s+/);
  return (fields.length === 5 || fields.length === 6) && fields.every((f) => CRON_FIELD.test(f)) ? fields.join(' ') : undefined;
}
