// Unknown (e.g. misspelt) fields in Kubernetes objects, which the JSON schemas of k8s-schema.js
// let through: each object becomes an object literal typed with its kubernetes-models TypeScript
// interface, and the TypeScript compiler (the repository's own devDependency) reports excess
// properties and wrong types at any depth. Only for the kinds k8s-schema.js knows.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const ts = require('typescript');

const PACKAGES = {
  'v1': 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
};

/** docs: [{ where, doc }]; returns failures (objects of unknown kinds are left to k8s-schema.js). */
function checkStrict(docs) {
  const lines = [];
  const origin = []; // line index -> where
  const imports = new Map();
  docs.forEach(({ where, doc }, i) => {
    const pkg = PACKAGES[doc.apiVersion];
    if (!pkg) return;
    const file = path.join(path.dirname(require.resolve(`${pkg.split('/').slice(0, pkg.startsWith('@') ? 2 : 1).join('/')}/package.json`)),
      pkg.split('/').slice(pkg.startsWith('@') ? 2 : 1).join('/'), `${doc.kind}.d.ts`);
    if (!fs.existsSync(file)) return;
    const alias = `T${imports.size}`;
    if (!imports.has(file)) imports.set(file, alias);
    const body = JSON.stringify(doc, null, 1).split('\n');
    body[0] = `export const o${i}: ${imports.get(file)}.I${doc.kind} = ${body[0]}`;
    body[body.length - 1] += ';';
    for (const l of body) {
      lines.push(l);
      origin.push(`${where}: ${doc.kind} ${doc.metadata?.name}`);
    }
  });
  if (lines.length === 0) return [];
  const header = [...imports].map(([file, alias]) => `import type * as ${alias} from ${JSON.stringify(file.replace(/\.d\.ts$/, ''))};`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pullthrough-k8s-strict-'));
  try {
    const file = path.join(dir, 'objects.ts');
    fs.writeFileSync(file, [...header, ...lines].join('\n'));
    const program = ts.createProgram([file], {
      strict: true, noEmit: true, skipLibCheck: true, types: [],
      module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, target: ts.ScriptTarget.ES2022,
    });
    const failures = [];
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      if (d.file?.fileName !== file) {
        failures.push(`strict Kubernetes types: ${message}`);
        continue;
      }
      const line = d.file.getLineAndCharacterOfPosition(d.start).line - header.length;
      const text = lines[line]?.trim().replace(/,$/, '');
      failures.push(`${origin[line] ?? 'infra'}: ${text}: ${message.replace(/Type '.*?' is not assignable to type '.*?'\. /, '')} (Kubernetes types)`);
    }
    return failures;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { checkStrict };
