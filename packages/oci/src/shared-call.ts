/** Where calls under way are kept by key (a Map, or a WeakMap keyed by an object). */
interface Running<K, T> {
  get(key: K): Promise<T> | undefined;
  set(key: K, value: Promise<T>): unknown;
  delete(key: K): unknown;
}

/**
 * The call under way for `key` in `running`, or a new one (`start`), kept there until it settles: the callers that
 * come meanwhile share its answer (or its failure) instead of making the same call again. A caller that must not
 * join a call already under way (it changed what the call reads) deletes the key first.
 */
export function sharedCall<K, T>(running: Running<K, T>, key: K, start: () => Promise<T>): Promise<T> {
  const current = running.get(key);
  if (current) return current;
  const call = start();
  running.set(key, call);
  // Forgotten from handlers attached after it is kept: a call that failed before any promise is not kept as the answer.
  const settled = () => {
    if (running.get(key) === call) running.delete(key);
  };
  call.then(settled, settled);
  return call;
}
