'use strict';
// One pull of `image` through the verifying write-through proxy ceiling (servers.js startVerifyingProxy,
// bench/lib/verifying-proxy-child.js), then its store settled (every file written and fsynced, so the
// next pull does not pay for it) and removed. Throws unless what it stored is exactly the image's blobs.
async function verifyingPull(verifying, image, pull) {
  const result = await pull(verifying.url, image);
  const { stored, errors } = await verifying.clear();
  const want = image.blobs.map((b) => `${b.digest} ${b.size}`).sort();
  const got = stored.map((b) => `${b.digest} ${b.size}`).sort();
  if (errors.length > 0 || want.join() !== got.join()) throw new Error(`verifying write-through proxy: stored ${got.join(', ') || 'nothing'}; errors: ${errors.join('; ') || 'none'}`);
  return result;
}

module.exports = { verifyingPull };
