/** What `answerWithin` gives when the answer did not come in time. */
export const LATE = Symbol('late');

/**
 * `answer`, or LATE when it has not settled within `ms` (a slow Redis delays no caller longer). A
 * rejection within the time rejects; one that comes later is handled here (no one waits for it).
 */
export async function answerWithin<T>(answer: Promise<T>, ms: number): Promise<T | typeof LATE> {
  answer.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => (timer = setTimeout(() => resolve(LATE), ms)));
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}
