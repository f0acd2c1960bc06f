import type { Writable } from 'node:stream';

/** Resolves true on 'drain'; false on 'close' or when `timeoutMs` (> 0) passes first. */
export const drained = (stream: Writable, timeoutMs = 0): Promise<boolean> =>
  new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (value: boolean) => () => {
      clearTimeout(timer);
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      resolve(value);
    };
    const onDrain = finish(true);
    const onClose = finish(false);
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    if (timeoutMs > 0) timer = setTimeout(finish(false), timeoutMs);
  });
