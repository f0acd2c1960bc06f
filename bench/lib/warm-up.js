'use strict';

/**
 * A proxy's process warm-up before a measured cold pull: `images` (unrelated 4 KiB images) pulled in
 * turn, so cold means cache-cold, not JIT-cold. One such pull ran each request's code once or twice;
 * with four, the first measured pull's time to first byte through the shaped link came 15 ms earlier on
 * average (bench/profile-shaped.js --warm-images=1 against 4, README "Time to first byte").
 */
async function warmUp(pull, url, images) {
  for (const image of images) await pull(url, image);
}

module.exports = { warmUp };
