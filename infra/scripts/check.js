#!/usr/bin/env node
// Offline consistency checks for infra/ (no cluster, no Docker engine needed):
//   node infra/scripts/check.js
// - every YAML file under infra/k8s parses (all documents) and names apiVersion/kind/metadata.name
// - the ConfigMap's keys are the README configuration table's variables
//   (minus the secrets: admin token, Redis URL, Azure Blob connection string),
//   with the README defaults except the documented container overrides
// - the README table and apps/*/src/config.ts name the same variables
// - Deployments: env names are README variables, Secret/ConfigMap/PVC references resolve,
//   named ports match the ConfigMap ports, probes: startup and liveness GET /healthz, readiness /readyz
//   (frontend: admin port; hydrator: its probe port)
// - Services select the frontend pods and target its named ports; autoscalers target the hydrator
// - the rules ConfigMap equals config/rules.yaml; the KEDA list is <prefix>:<queue>:wait
// - the Dockerfile exposes the ConfigMap ports and only sets README variables; its CMDs run node
//   with scripts/node-flags.js's flags
// - `kubectl kustomize` renders the base and the KEDA component (when kubectl is installed)
// - every object (static manifests, kustomize renderings) validates against the Kubernetes
//   schemas (lib/k8s-schema.js) and has no unknown field (lib/k8s-strict.js), and in each
//   rendering references resolve (lib/k8s-references.js)
// - the Helm chart infra/helm/pullthrough (lib/helm-chart.js) and the Bicep infra/bicep
//   (lib/bicep.js): see those files for what is and is not checked
// Exit code 1 on any failure. `node infra/scripts/check.js <dir>` checks a copy of the repository
// at <dir> (the self-tests in check.test.js break copies on purpose).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const YAML = require('yaml');
const { readmeVariables, codeVariables, compareSettings } = require('./lib/config-table');
const { validateObjects } = require('./lib/k8s-schema');
const { checkStrict } = require('./lib/k8s-strict');
const { checkReferences } = require('./lib/k8s-references');
const { checkChart } = require('./lib/helm-chart');
const { checkBicep } = require('./lib/bicep');

const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '..'));
const k8s = path.join(root, 'infra', 'k8s');
const failures = [];
const check = (ok, msg) => {
  if (!ok) failures.push(msg);
};
const read = (p) => fs.readFileSync(path.join(root, p), 'utf8');

// --- parse every manifest ------------------------------------------------------------------
function yamlFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}
const docs = []; // { file, doc }
for (const file of yamlFiles(k8s)) {
  const rel = path.relative(root, file);
  for (const d of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
    if (d.errors.length) {
      failures.push(`${rel}: ${d.errors.map((e) => e.message).join('; ')}`);
      continue;
    }
    const doc = d.toJS();
    if (doc === null) continue;
    docs.push({ file: rel, doc });
    if (doc.kind === 'Kustomization' || doc.kind === 'Component') continue;
    check(doc.apiVersion && doc.kind && doc.metadata?.name, `${rel}: a document lacks apiVersion/kind/metadata.name`);
  }
}
const find = (kind, name) => docs.find((x) => x.doc.kind === kind && x.doc.metadata?.name === name)?.doc;
const all = (kind) => docs.filter((x) => x.doc.kind === kind).map((x) => x.doc);

// --- README table and config.ts --------------------------------------------------------------
const readmeVars = readmeVariables(root); // name -> default (string) or undefined when not a literal
check(readmeVars.size > 0, 'README.md: no configuration table found');
const codeVars = codeVariables(root);
const notes = new Set();
for (const v of codeVars) check(readmeVars.has(v), `apps/*/src/config.ts reads ${v}, which the README table does not list`);
for (const v of readmeVars.keys()) check(codeVars.has(v), `README table lists ${v}, which no apps/*/src/config.ts reads`);

// --- ConfigMap -----------------------------------------------------------------------------
const cm = find('ConfigMap', 'pullthrough-config');
check(cm, 'ConfigMap pullthrough-config missing');
const cmData = cm?.data ?? {};
failures.push(...compareSettings('configmap.yaml', cmData, readmeVars, notes));

// --- Secrets (from the example, which is the contract for names and keys) -------------------
const secrets = new Map(all('Secret').map((s) => [s.metadata.name, Object.keys({ ...s.data, ...s.stringData })]));
const kustomization = docs.find((x) => x.file === path.join('infra', 'k8s', 'kustomization.yaml'))?.doc;
check(kustomization && !kustomization.resources.some((r) => /secret/i.test(r)), 'kustomization.yaml must not list the example Secret');

// --- Deployments ---------------------------------------------------------------------------
const deployments = all('Deployment');
const frontend = find('Deployment', 'pullthrough-frontend');
const hydrator = find('Deployment', 'pullthrough-hydrator');
check(frontend && hydrator, 'Deployments pullthrough-frontend / pullthrough-hydrator missing');
for (const dep of deployments) {
  const name = dep.metadata.name;
  const pod = dep.spec.template.spec;
  check(JSON.stringify(dep.spec.selector.matchLabels) === JSON.stringify(
    Object.fromEntries(Object.entries(dep.spec.template.metadata.labels).filter(([k]) => k in dep.spec.selector.matchLabels))),
    `${name}: selector does not match the pod labels`);
  check(pod.enableServiceLinks === false, `${name}: enableServiceLinks must be false (Service env vars collide with PULLTHROUGH_*_PORT)`);
  check(pod.securityContext?.runAsNonRoot === true, `${name}: runAsNonRoot`);
  for (const vol of pod.volumes ?? []) {
    if (vol.persistentVolumeClaim) check(find('PersistentVolumeClaim', vol.persistentVolumeClaim.claimName), `${name}: PVC ${vol.persistentVolumeClaim.claimName} not defined`);
    if (vol.configMap) check(find('ConfigMap', vol.configMap.name), `${name}: ConfigMap ${vol.configMap.name} not defined`);
  }
  for (const c of pod.containers) {
    const sc = c.securityContext ?? {};
    check(sc.readOnlyRootFilesystem === true && sc.allowPrivilegeEscalation === false, `${name}/${c.name}: read-only root fs, no privilege escalation`);
    check((c.volumeMounts ?? []).some((m) => m.mountPath === '/tmp'), `${name}/${c.name}: /tmp must be a writable volume`);
    check((c.volumeMounts ?? []).some((m) => m.mountPath === cmData.PULLTHROUGH_DATA_DIR), `${name}/${c.name}: nothing mounted at PULLTHROUGH_DATA_DIR`);
    check(c.resources?.requests && c.resources?.limits, `${name}/${c.name}: resources requests and limits`);
    for (const ef of c.envFrom ?? []) if (ef.configMapRef) check(find('ConfigMap', ef.configMapRef.name), `${name}: envFrom ConfigMap ${ef.configMapRef.name} not defined`);
    for (const e of c.env ?? []) {
      check(readmeVars.has(e.name), `${name}/${c.name}: env ${e.name} is not in the README table`);
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) check((secrets.get(ref.name) ?? []).includes(ref.key), `${name}/${c.name}: secret ${ref.name}/${ref.key} is not in secret.example.yaml`);
    }
    const ports = Object.fromEntries((c.ports ?? []).map((p) => [p.name, p.containerPort]));
    if (name === 'pullthrough-frontend') {
      check(String(ports.data) === cmData.PULLTHROUGH_DATA_PORT, `${name}: containerPort "data" != PULLTHROUGH_DATA_PORT`);
      check(String(ports.admin) === cmData.PULLTHROUGH_ADMIN_PORT, `${name}: containerPort "admin" != PULLTHROUGH_ADMIN_PORT`);
      for (const [probe, path] of [['startupProbe', '/healthz'], ['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']]) {
        check(c[probe]?.httpGet?.path === path && c[probe]?.httpGet?.port === 'admin', `${name}: ${probe} must GET ${path} on the admin port`);
      }
      check(c.lifecycle?.preStop, `${name}: preStop drain`);
      check((c.env ?? []).some((e) => e.name === 'PULLTHROUGH_ADMIN_TOKEN'), `${name}: PULLTHROUGH_ADMIN_TOKEN from a Secret`);
      check((c.volumeMounts ?? []).some((m) => cmData.PULLTHROUGH_RULES_FILE.startsWith(m.mountPath + '/')), `${name}: PULLTHROUGH_RULES_FILE is not under a mounted path`);
    }
    if (name === 'pullthrough-hydrator') {
      check(String(ports.probes) === cmData.PULLTHROUGH_HYDRATOR_PORT, `${name}: containerPort "probes" != PULLTHROUGH_HYDRATOR_PORT`);
      for (const [probe, path] of [['startupProbe', '/healthz'], ['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']]) {
        check(c[probe]?.httpGet?.path === path && c[probe]?.httpGet?.port === 'probes', `${name}: ${probe} must GET ${path} on the probes port`);
      }
    }
    check((c.env ?? []).some((e) => e.name === 'REDIS_URL' && e.valueFrom?.secretKeyRef), `${name}: REDIS_URL from a Secret`);
  }
}
check(frontend?.spec.replicas === 2, 'frontend: 2 replicas');
check(frontend?.spec.template.spec.terminationGracePeriodSeconds === 30, 'frontend: terminationGracePeriodSeconds 30');
check(hydrator && hydrator.spec.replicas === undefined, 'hydrator: replicas must be left to the autoscaler');

// --- Services, autoscalers, PVC ------------------------------------------------------------
const fLabels = frontend?.spec.template.metadata.labels ?? {};
const fPorts = new Set(frontend?.spec.template.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)));
for (const svc of all('Service')) {
  const n = svc.metadata.name;
  check(Object.entries(svc.spec.selector).every(([k, v]) => fLabels[k] === v), `Service ${n}: selector does not match the frontend pods`);
  for (const p of svc.spec.ports) check(fPorts.has(p.targetPort), `Service ${n}: targetPort ${p.targetPort} is not a named frontend port`);
}
const admin = find('Service', 'pullthrough-admin');
check(admin && (admin.spec.type ?? 'ClusterIP') === 'ClusterIP', 'Service pullthrough-admin must be ClusterIP');
check(admin?.spec.ports.every((p) => String(p.port) === cmData.PULLTHROUGH_ADMIN_PORT), 'Service pullthrough-admin port != PULLTHROUGH_ADMIN_PORT');
check(find('Service', 'pullthrough-data')?.spec.ports.every((p) => String(p.port) === cmData.PULLTHROUGH_DATA_PORT), 'Service pullthrough-data port != PULLTHROUGH_DATA_PORT');
const hpa = find('HorizontalPodAutoscaler', 'pullthrough-hydrator');
check(hpa?.spec.scaleTargetRef.name === 'pullthrough-hydrator', 'HPA must target pullthrough-hydrator');
check(find('PersistentVolumeClaim', 'pullthrough-data')?.spec.accessModes.includes('ReadWriteMany'), 'PVC must be ReadWriteMany');

const so = find('ScaledObject', 'pullthrough-hydrator');
check(so?.spec.scaleTargetRef.name === 'pullthrough-hydrator', 'ScaledObject must target pullthrough-hydrator');
const queueName = /HYDRATION_QUEUE\s*=\s*'([^']+)'/.exec(read('packages/hydration-jobs/src/hydration-job.ts'))?.[1];
const trigger = so?.spec.triggers.find((t) => t.type === 'redis');
check(trigger?.metadata.listName === `${cmData.PULLTHROUGH_QUEUE_PREFIX}:${queueName}:wait`,
  `ScaledObject listName "${trigger?.metadata.listName}" != "${cmData.PULLTHROUGH_QUEUE_PREFIX}:${queueName}:wait"`);
check((so?.spec.minReplicaCount ?? 0) >= 1, 'ScaledObject minReplicaCount must be >= 1 (delayed jobs are promoted by running workers only)');
for (const ta of all('TriggerAuthentication')) {
  for (const r of ta.spec.secretTargetRef ?? []) check((secrets.get(r.name) ?? []).includes(r.key), `TriggerAuthentication: secret ${r.name}/${r.key} is not in secret.example.yaml`);
}

// --- rules ConfigMap == config/rules.yaml ----------------------------------------------------
const rulesCm = find('ConfigMap', 'pullthrough-rules');
check(rulesCm && JSON.stringify(YAML.parse(rulesCm.data['rules.yaml'])) === JSON.stringify(YAML.parse(read('config/rules.yaml'))),
  'rules-configmap.yaml differs from config/rules.yaml');

// --- Dockerfile ------------------------------------------------------------------------------
const dockerfile = read('infra/docker/Dockerfile');
/** The ports a build target (`FROM ... AS <target>` up to the next FROM) exposes. */
const exposedBy = (target) => {
  const start = dockerfile.search(new RegExp(`^FROM \\S+ AS ${target}$`, 'm'));
  if (start < 0) return [];
  const rest = dockerfile.slice(start + 1);
  const section = rest.slice(0, rest.search(/^FROM /m) < 0 ? undefined : rest.search(/^FROM /m));
  return (/^EXPOSE (.+)$/m.exec(section)?.[1] ?? '').split(/\s+/);
};
const exposed = exposedBy('frontend');
check(exposed.includes(cmData.PULLTHROUGH_DATA_PORT) && exposed.includes(cmData.PULLTHROUGH_ADMIN_PORT), 'Dockerfile: the frontend target EXPOSE != ConfigMap ports');
check(exposedBy('hydrator').includes(cmData.PULLTHROUGH_HYDRATOR_PORT), 'Dockerfile: the hydrator target must EXPOSE PULLTHROUGH_HYDRATOR_PORT');
for (const m of dockerfile.matchAll(/\b(PULLTHROUGH_[A-Z_]+)=/g)) check(readmeVars.has(m[1]), `Dockerfile sets ${m[1]}, which the README table does not list`);
for (const target of ['frontend', 'hydrator']) check(new RegExp(`^FROM \\S+ AS ${target}$`, 'm').test(dockerfile), `Dockerfile: target ${target} missing`);
check(/^HEALTHCHECK .*\/healthz/ms.test(dockerfile), 'Dockerfile: HEALTHCHECK on /healthz');
// Each target's CMD runs node with the flags every launcher uses (scripts/node-flags.js).
const { NODE_FLAGS } = require(path.join(root, 'scripts', 'node-flags.js'));
// ... and the environment they all set (NODE_ENV_VARS), in the runtime stage both targets build on.
const { NODE_ENV_VARS } = require(path.join(root, 'scripts', 'node-flags.js'));
for (const [name, value] of Object.entries(NODE_ENV_VARS)) {
  const runtimeStage = dockerfile.replace(/^#.*\n/gm, '').split(/^FROM /m).find((stage) => stage.startsWith('base AS runtime')) ?? '';
  const envLines = runtimeStage.match(/^ENV (?:.*\\\n)*.*$/gm) ?? [];
  check(envLines.some((line) => new RegExp(`\\b${name}=${value}\\b`).test(line)), `Dockerfile: the runtime stage must set ENV ${name}=${value} (scripts/node-flags.js)`);
}
for (const target of ['frontend', 'hydrator']) {
  const cmd = JSON.stringify(['node', ...NODE_FLAGS, `apps/${target}/dist/main.js`]).replaceAll(',', ', ');
  check(dockerfile.includes(`CMD ${cmd}`), `Dockerfile: the ${target} target must run CMD ${cmd} (scripts/node-flags.js)`);
}

// --- kustomize render ----------------------------------------------------------------------
const renderings = []; // { label, docs }
const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
if (kubectl.status === 0) {
  const render = (dir) => spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  const objects = (out) => YAML.parseAllDocuments(out).map((d) => d.toJS()).filter(Boolean);
  const base = render(k8s);
  check(base.status === 0, `kubectl kustomize infra/k8s failed: ${base.stderr}`);
  const baseDocs = objects(base.stdout);
  const kinds = baseDocs.map((d) => d.kind);
  check(!kinds.includes('Secret') && kinds.includes('HorizontalPodAutoscaler'), 'rendered base: no Secret, one HPA expected');
  renderings.push({ label: 'kubectl kustomize infra/k8s', docs: baseDocs });
  // The KEDA component, enabled in a scratch copy.
  const tmp = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pullthrough-k8s-'));
  try {
    fs.cpSync(k8s, tmp, { recursive: true });
    const kf = path.join(tmp, 'kustomization.yaml');
    fs.writeFileSync(kf, fs.readFileSync(kf, 'utf8').replace('# components:\n#   - optional', 'components:\n  - optional'));
    const keda = render(tmp);
    check(keda.status === 0, `kubectl kustomize with the KEDA component failed: ${keda.stderr}`);
    const kedaDocs = objects(keda.stdout);
    const kk = kedaDocs.map((d) => d.kind);
    check(kk.includes('ScaledObject') && !kk.includes('HorizontalPodAutoscaler'), 'KEDA component: ScaledObject in, HPA out expected');
    renderings.push({ label: 'kubectl kustomize infra/k8s + KEDA component', docs: kedaDocs });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
} else {
  notes.add('kubectl not found: kustomize render skipped (static manifests still checked)');
}

async function main() {
  // Every static manifest (the example Secret and the standalone DaemonSet included) and every
  // rendering against the Kubernetes schemas; references within each rendering.
  const objects = docs.filter((x) => x.doc.kind !== 'Kustomization' && x.doc.kind !== 'Component');
  const typed = [...objects.map((x) => ({ where: x.file, doc: x.doc })), ...renderings.flatMap((r) => r.docs.map((doc) => ({ where: r.label, doc })))];
  failures.push(...(await validateObjects(typed)));
  failures.push(...checkStrict(typed));
  for (const r of renderings) failures.push(...checkReferences(r.docs, r.label));
  const chart = await checkChart({ root, readmeVars, queueName, notes });
  failures.push(...chart.failures);
  if (chart.renderings === 0) notes.add('helm not found (Debian does not package it): chart checked statically, not rendered (see infra/README.md)');
  const bicep = checkBicep({ root });
  failures.push(...bicep.failures);
  notes.add(bicep.note);

  for (const n of notes) console.log(`note: ${n}`);
  const files = new Set(docs.map((d) => d.file)).size;
  if (failures.length) {
    console.error(`infra check: ${failures.length} problem(s)\n  - ${failures.join('\n  - ')}`);
    process.exit(1);
  }
  const schemaCount = objects.length + renderings.reduce((n, r) => n + r.docs.length, 0);
  console.log(`infra check: ok (${files} YAML files, ${docs.length} documents; ${schemaCount} objects schema- and type-checked from ${renderings.length} kustomize renderings + static; ` +
    `chart: ${chart.renderings} helm renderings; bicep: ${bicep.summary})`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
