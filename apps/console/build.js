// Bundles src/ into dist/: hashed assets (long cache) and an index.html that only references them
// (no inline script or style, so the frontend can serve it under a strict Content-Security-Policy).
const { build } = require('esbuild');
const { mkdir, readFile, rm, writeFile } = require('node:fs/promises');
const { basename, join } = require('node:path');

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
  const html = (await readFile(join(__dirname, 'src/index.html'), 'utf8')).replace('%SCRIPT%', `assets/${script}`).replace('%STYLE%', `assets/${style}`);
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'index.html'), html);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
