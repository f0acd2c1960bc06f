// Bundles src/ into dist/: hashed assets (long cache) and an index.html that only references them
// (no inline script or style, so the frontend can serve it under a strict Content-Security-Policy).
const { build } = require('esbuild');
const { mkdir, readFile, rm, writeFile } = require('node:fs/promises');
const { createHash } = require('node:crypto');
const { basename, join } = require('node:path');

/** The tab icon: served by the cache like everything else (a missing one would be a 404 on every load). */
const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b5cad"/><path d="M4 4h8v2H9v6H7V6H4z" fill="#fff"/></svg>\n';

async function main() {
  const out = join(__dirname, 'dist');
  await rm(out, { recursive: true, force: true });
  const result = await build({
    entryPoints: [join(__dirname, 'src/main.tsx'), join(__dirname, 'src/styles.css')],
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'esm',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: join(out, 'assets'),
    entryNames: '[name]-[hash]',
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const script = outputs.find((f) => f.startsWith('main-') && f.endsWith('.js'));
  const style = outputs.find((f) => f.startsWith('styles-') && f.endsWith('.css'));
  if (!script || !style) throw new Error(`esbuild did not write the expected assets: ${outputs.join(', ')}`);
  const icon = `favicon-${createHash('sha256').update(FAVICON).digest('hex').slice(0, 8).toUpperCase()}.svg`;
  await writeFile(join(out, 'assets', icon), FAVICON);
  const html = (await readFile(join(__dirname, 'src/index.html'), 'utf8'))
    .replace('%SCRIPT%', `assets/${script}`)
    .replace('%STYLE%', `assets/${style}`)
    .replace('%ICON%', `assets/${icon}`);
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'index.html'), html);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
