// Self-tests of infra/scripts/check.js: a pristine copy of what it reads passes; each drift
// breaks a copy in one place and must fail the check with a message naming it.
//   node --test infra/scripts/
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const repo = path.resolve(__dirname, '..', '..');
const CHECK = path.join(__dirname, 'check.js');
const HAVE_KUBECTL = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const INPUTS = ['README.md', 'apps/frontend/src/config.ts', 'apps/hydrator/src/config.ts', 'config/rules.yaml', 'packages/hydration-jobs/src/hydration-job.ts', 'infra', 'scripts/node-flags.js'];

/** A copy of the inputs, edit(root) applied, then the check run on it. */
function runOnCopy(edit) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pullthrough-infra-check-'));
  try {
    for (const p of INPUTS) fs.cpSync(path.join(repo, p), path.join(root, p), { recursive: true });
    edit?.(root);
    const r = spawnSync(process.execPath, [CHECK, root], { encoding: 'utf8' });
    return { status: r.status, output: r.stdout + r.stderr };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
function replaceIn(root, file, from, to) {
  const p = path.join(root, file);
  const text = fs.readFileSync(p, 'utf8');
  assert.ok(text.includes(from), `${file} does not contain ${from}`);
  fs.writeFileSync(p, text.replace(from, to));
}
function expectFailure(edit, ...messages) {
  const r = runOnCopy(edit);
  assert.equal(r.status, 1, r.output);
  for (const m of messages) assert.match(r.output, m);
}

test('a pristine copy passes', () => {
  const r = runOnCopy();
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /^infra check: ok \(/m);
});

test('a README default changed: the ConfigMap and the chart values both disagree', () => {
  expectFailure((root) => replaceIn(root, 'README.md', '| `PULLTHROUGH_TOKEN_TTL_SECONDS` | `300` |', '| `PULLTHROUGH_TOKEN_TTL_SECONDS` | `301` |'),
    /configmap\.yaml: PULLTHROUGH_TOKEN_TTL_SECONDS="300" differs from the README default "301"/,
    /values\.yaml config: PULLTHROUGH_TOKEN_TTL_SECONDS="300" differs from the README default "301"/);
});

test('a README variable missing from the chart values', () => {
  expectFailure((root) => replaceIn(root, 'infra/helm/pullthrough/values.yaml', '  PULLTHROUGH_LOG_LEVEL: "info"\n', ''),
    /values\.yaml config: README variable PULLTHROUGH_LOG_LEVEL missing/);
});

test('a secret in the chart values', () => {
  expectFailure((root) => replaceIn(root, 'infra/helm/pullthrough/values.yaml', '  PULLTHROUGH_LOG_LEVEL: "info"\n', '  PULLTHROUGH_LOG_LEVEL: "info"\n  PULLTHROUGH_ADMIN_TOKEN: "x"\n'),
    /PULLTHROUGH_ADMIN_TOKEN is a secret/);
});

test('a Dockerfile CMD without the node flags every launcher uses', () => {
  expectFailure((root) => replaceIn(root, 'infra/docker/Dockerfile', 'CMD ["node", "--max-semi-space-size=2", "--liftoff-only", "apps/hydrator/dist/main.js"]', 'CMD ["node", "--max-semi-space-size=2", "apps/hydrator/dist/main.js"]'),
    /Dockerfile: the hydrator target must run CMD \["node", "--max-semi-space-size=2", "--liftoff-only", "apps\/hydrator\/dist\/main\.js"\]/);
});

test('a template uses a value values.yaml does not have', () => {
  expectFailure((root) => replaceIn(root, 'infra/helm/pullthrough/templates/frontend-hpa.yaml', '.Values.frontend.hpa.maxReplicas', '.Values.frontend.hpa.maxReplica'),
    /frontend-hpa\.yaml: \.Values\.frontend\.hpa\.maxReplica is not in values\.yaml/);
});

test('an example values file sets a key values.yaml does not have', () => {
  expectFailure((root) => replaceIn(root, 'infra/helm/pullthrough/values-azure-blob.yaml', 'workloadIdentity:\n  enabled: true', 'workloadIdentity:\n  enable: true'),
    /values-azure-blob\.yaml: workloadIdentity\.enable is not a key of values\.yaml/);
});

test('an unclosed template block', () => {
  expectFailure((root) => replaceIn(root, 'infra/helm/pullthrough/templates/frontend-pdb.yaml', '{{- end }}\n', ''),
    /frontend-pdb\.yaml: 1 if\/with\/range\/define blocks but 0 \{\{ end \}\}/);
});

test('the chart readiness probe not on /readyz', () => {
  expectFailure((root) => replaceIn(root, 'infra/helm/pullthrough/templates/hydrator-deployment.yaml', 'path: /readyz', 'path: /healthz'),
    /hydrator: liveness \/healthz and readiness \/readyz/);
});

test('the KEDA list is not BullMQ\'s wait list', () => {
  expectFailure((root) => replaceIn(root, 'infra/helm/pullthrough/templates/hydrator-scaledobject.yaml', '}}:hydration:wait\n', '}}:hydration:waiting\n'),
    /KEDA listName must be/);
});

test('the chart\'s rules file drifts from config/rules.yaml', () => {
  expectFailure((root) => fs.appendFileSync(path.join(root, 'config/rules.yaml'), '  - name: extra\n    sourceRepository: a.example/*\n    targetRepository: a/*\n'),
    /files\/rules\.yaml differs from config\/rules\.yaml/, /rules-configmap\.yaml differs from config\/rules\.yaml/);
});

test('a manifest that breaks the Kubernetes schema', () => {
  expectFailure((root) => replaceIn(root, 'infra/k8s/frontend-pdb.yaml', 'minAvailable: 1', 'minAvailable: [1]'),
    /frontend-pdb\.yaml: PodDisruptionBudget pullthrough-frontend: .*minAvailable.* \(Kubernetes schema\)/);
});

test('a misspelt field in a manifest (the schemas allow unknown fields; the types do not)', () => {
  expectFailure((root) => replaceIn(root, 'infra/k8s/hydrator-deployment.yaml', 'revisionHistoryLimit: 5', 'revisionHistoryLimt: 5'),
    /infra\/k8s\/hydrator-deployment\.yaml: Deployment pullthrough-hydrator: "revisionHistoryLimt": 5: Object literal may only specify known properties/,
    // and in the kustomize rendering, where kubectl is installed (it is not a Debian package in a usable version)
    ...(HAVE_KUBECTL ? [/kubectl kustomize infra\/k8s: Deployment pullthrough-hydrator: "revisionHistoryLimt": 5/] : []));
});

test('bicep: a role assignment with an unknown role id', () => {
  expectFailure((root) => replaceIn(root, 'infra/bicep/modules/storage.bicep', "'ba92f5b4-2d11-453d-a403-e96b0029c9fe'", "'8e3af657-a8ff-443a-a242-2e8c1af2c1b5'"),
    /storage\.bicep: role assignment blobContributor does not use a known built-in role id/,
    /role Storage Blob Data Contributor: expected exactly one assignment/);
});

test('bicep: the blob role scoped to the account instead of the container', () => {
  expectFailure((root) => replaceIn(root, 'infra/bicep/modules/storage.bicep', 'scope: container\n', 'scope: account\n'),
    /role Storage Blob Data Contributor: expected exactly one assignment in modules\/storage\.bicep scoped to Microsoft\.Storage\/storageAccounts\/blobServices\/containers/);
});

test('bicep: public blob access allowed', () => {
  expectFailure((root) => replaceIn(root, 'infra/bicep/modules/storage.bicep', 'allowBlobPublicAccess: false', 'allowBlobPublicAccess: true'),
    /storage\.bicep: allowBlobPublicAccess: false/);
});

test('bicep: a module call with a parameter the module does not declare, or without a required one', () => {
  expectFailure((root) => replaceIn(root, 'infra/bicep/main.bicep', "    sku: redisSku\n", "    skuName: redisSku\n"),
    /main\.bicep: module redis passes skuName, which modules\/redis\.bicep does not declare/,
    /main\.bicep: module redis does not pass sku, which modules\/redis\.bicep requires/);
});

test('bicep: the parameters file names an unknown parameter or a wrong type', () => {
  expectFailure((root) => replaceIn(root, 'infra/bicep/main.parameters.json', '"nodeCount": { "value": 3 }', '"nodeCount": { "value": "3" },\n    "nodeCnt": { "value": 3 }'),
    /main\.parameters\.json: nodeCount must be a int/, /main\.parameters\.json: nodeCnt is not a parameter of main\.bicep/);
});

test('bicep: the example container differs from the chart\'s Azure Blob values', () => {
  expectFailure((root) => replaceIn(root, 'infra/bicep/main.parameters.json', '"blobContainerName": { "value": "pullthrough" }', '"blobContainerName": { "value": "cache" }'),
    /blobContainerName differs from values-azure-blob\.yaml/);
});
