// infra/helm/pullthrough without a cluster. Helm is not packaged by Debian (nor on npm as a
// binary), so when `helm` is not on PATH the chart is checked statically:
// - Chart.yaml and every values file parse; the example values files only set keys values.yaml has
// - values.yaml `config:` is the README table (names, defaults but for the documented overrides)
//   and the settings ConfigMap template renders every `config` key
// - every `.Values.x.y` a template uses exists in values.yaml; every `include` is defined;
//   template blocks (if/with/range/define) are closed; `{{` and `}}` pair up
// - facts that must hold in any rendering: probes (/healthz liveness, /readyz readiness) on the
//   named admin / hydrator ports, ports from the config values, the KEDA list is
//   <PULLTHROUGH_QUEUE_PREFIX>:<queue>:wait, Workload Identity annotation and pod label, every
//   pod template uses the shared security contexts, files/rules.yaml is config/rules.yaml
// With `helm` on PATH it also runs `helm lint` and `helm template` for the default, filesystem
// and Azure Blob values and checks each rendering against the Kubernetes schemas and types and references.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const YAML = require('yaml');
const { compareSettings } = require('./config-table');
const { validateObjects } = require('./k8s-schema');
const { checkStrict } = require('./k8s-strict');
const { checkReferences } = require('./k8s-references');

const CHART = path.join('infra', 'helm', 'pullthrough');
const VALUE_FILES = ['values-filesystem.yaml', 'values-azure-blob.yaml'];

function keyPaths(obj, prefix = []) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return [prefix];
  const entries = Object.entries(obj);
  if (entries.length === 0) return [prefix];
  return entries.flatMap(([k, v]) => keyPaths(v, [...prefix, k]));
}
function has(obj, segments) {
  let cur = obj;
  for (const s of segments) {
    if (cur === null || typeof cur !== 'object' || !(s in cur)) return false;
    cur = cur[s];
  }
  return true;
}

/** Returns { failures, renderings: number of helm renderings checked (0 without helm) }. */
async function checkChart({ root, readmeVars, queueName, notes }) {
  const failures = [];
  const check = (ok, msg) => {
    if (!ok) failures.push(`${CHART}: ${msg}`);
  };
  const dir = path.join(root, CHART);
  const parse = (file) => {
    try {
      return YAML.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    } catch (err) {
      failures.push(`${CHART}/${file}: ${err.message.split('\n')[0]}`);
      return undefined;
    }
  };
  const chart = parse('Chart.yaml');
  check(chart?.apiVersion === 'v2' && chart?.name === 'pullthrough' && chart?.version, 'Chart.yaml: apiVersion v2, name pullthrough, a version');
  const values = parse('values.yaml') ?? {};
  const config = values.config ?? {};
  failures.push(...compareSettings(`${CHART}/values.yaml config`, config, readmeVars, notes));
  for (const file of VALUE_FILES) {
    const v = parse(file) ?? {};
    for (const p of keyPaths(v)) check(has(values, p), `${file}: ${p.join('.')} is not a key of values.yaml`);
  }

  // --- templates ---------------------------------------------------------------------------
  const tdir = path.join(dir, 'templates');
  const templates = Object.fromEntries(fs.readdirSync(tdir).filter((f) => /\.(ya?ml|tpl)$/.test(f)).map((f) => [f, fs.readFileSync(path.join(tdir, f), 'utf8')]));
  const all = Object.values(templates).join('\n');
  const defined = new Set([...all.matchAll(/\{\{-?\s*define\s+"([^"]+)"/g)].map((m) => m[1]));
  for (const [file, text] of Object.entries(templates)) {
    const opens = (text.match(/\{\{/g) ?? []).length;
    const closes = (text.match(/\}\}/g) ?? []).length;
    check(opens === closes, `templates/${file}: ${opens} "{{" but ${closes} "}}"`);
    const blocks = (text.match(/\{\{-?\s*(if|with|range|define|block)\b/g) ?? []).length;
    const ends = (text.match(/\{\{-?\s*end\s*-?\}\}/g) ?? []).length;
    check(blocks === ends, `templates/${file}: ${blocks} if/with/range/define blocks but ${ends} {{ end }}`);
    for (const m of text.matchAll(/\binclude\s+"([^"]+)"/g)) check(defined.has(m[1]), `templates/${file}: include "${m[1]}" is not defined`);
    for (const m of text.matchAll(/\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      check(has(values, m[1].slice(1).split('.')), `templates/${file}: .Values${m[1]} is not in values.yaml`);
    }
    if (file.endsWith('.yaml') && /^kind: (Deployment|StatefulSet)$/m.test(text)) {
      check(/securityContext:\s*\n\s*\{\{- include "pullthrough\.containerSecurityContext"/.test(text), `templates/${file}: containers must use pullthrough.containerSecurityContext`);
      check(/resources:\s*\n\s*\{\{- toYaml \.Values\.\w+\.resources/.test(text), `templates/${file}: containers need resources from values`);
      check(/automountServiceAccountToken: false/.test(text) && /enableServiceLinks: false/.test(text), `templates/${file}: automountServiceAccountToken and enableServiceLinks false`);
    }
  }
  const t = (f) => templates[f] ?? '';
  check(/range \$k, \$v := \$cfg/.test(t('configmap.yaml')) && /deepCopy \.Values\.config/.test(t('configmap.yaml')), 'templates/configmap.yaml must render every .Values.config key');
  const probe = (text, kind, p, port) => new RegExp(`${kind}:\\s*\\n\\s*httpGet:\\s*\\n\\s*path: ${p}\\s*\\n\\s*port: ${port}\\b`).test(text);
  const fe = t('frontend-deployment.yaml');
  const hy = t('hydrator-deployment.yaml');
  check(probe(fe, 'livenessProbe', '/healthz', 'admin') && probe(fe, 'readinessProbe', '/readyz', 'admin'), 'frontend: liveness /healthz and readiness /readyz on the admin port');
  check(probe(hy, 'livenessProbe', '/healthz', 'http') && probe(hy, 'readinessProbe', '/readyz', 'http'), 'hydrator: liveness /healthz and readiness /readyz on its http port');
  check(/name: data\s*\n\s*containerPort: \{\{ \.Values\.config\.PULLTHROUGH_DATA_PORT \| int \}\}/.test(fe), 'frontend: containerPort data from PULLTHROUGH_DATA_PORT');
  check(/name: admin\s*\n\s*containerPort: \{\{ \.Values\.config\.PULLTHROUGH_ADMIN_PORT \| int \}\}/.test(fe), 'frontend: containerPort admin from PULLTHROUGH_ADMIN_PORT');
  check(/name: http\s*\n\s*containerPort: \{\{ \.Values\.config\.PULLTHROUGH_HYDRATOR_PORT \| int \}\}/.test(hy), 'hydrator: containerPort http from PULLTHROUGH_HYDRATOR_PORT');
  check(new RegExp(`^\\s*listName: \\{\\{ \\.Values\\.config\\.PULLTHROUGH_QUEUE_PREFIX \\}\\}:${queueName}:wait$`, 'm').test(t('hydrator-scaledobject.yaml')), `KEDA listName must be {{ .Values.config.PULLTHROUGH_QUEUE_PREFIX }}:${queueName}:wait`);
  check(/azure\.workload\.identity\/client-id:/.test(t('serviceaccount.yaml')), 'ServiceAccount: azure.workload.identity/client-id annotation');
  for (const f of ['frontend-deployment.yaml', 'hydrator-deployment.yaml']) {
    check(/azure\.workload\.identity\/use: "true"/.test(t(f)), `${f}: pod label azure.workload.identity/use: "true"`);
    check(/\{\{- include "pullthrough\.podSecurityContext"/.test(t(f)), `${f}: pod securityContext from pullthrough.podSecurityContext`);
  }
  check(/--appendonly\s*\n\s*- "yes"/.test(t('redis.yaml')), 'dev Redis must keep an append-only file');
  const rules = fs.readFileSync(path.join(dir, 'files', 'rules.yaml'), 'utf8');
  check(rules === fs.readFileSync(path.join(root, 'config', 'rules.yaml'), 'utf8'), 'files/rules.yaml differs from config/rules.yaml');

  // --- helm, when installed ----------------------------------------------------------------------
  let renderings = 0;
  if (spawnSync('helm', ['version', '--short'], { encoding: 'utf8' }).status === 0) {
    const lint = spawnSync('helm', ['lint', dir], { encoding: 'utf8' });
    check(lint.status === 0, `helm lint: ${lint.stdout}${lint.stderr}`);
    for (const file of [undefined, ...VALUE_FILES]) {
      const args = ['template', 'pullthrough', dir, '--namespace', 'pullthrough', ...(file ? ['-f', path.join(dir, file)] : [])];
      const out = spawnSync('helm', args, { encoding: 'utf8' });
      const label = `helm template ${file ?? '(defaults)'}`;
      if (out.status !== 0) {
        failures.push(`${label}: ${out.stderr}`);
        continue;
      }
      const docs = YAML.parseAllDocuments(out.stdout).map((d) => d.toJS()).filter(Boolean);
      const typed = docs.map((doc) => ({ where: label, doc }));
      failures.push(...(await validateObjects(typed)), ...checkStrict(typed));
      failures.push(...checkReferences(docs, label));
      renderings++;
    }
  }
  return { failures, renderings };
}

module.exports = { checkChart };
