// infra/bicep without the Bicep compiler (a .NET tool: not in Debian, not on npm, and nothing
// else can be downloaded here). So Bicep is NOT compiled: syntax, types, API versions and
// property names are not validated. What is checked, from the source text:
// - every file's (), [], {} balance (strings and comments skipped); every module path exists
// - each module call passes only parameters the module declares, and all it requires
// - main.parameters.json names only parameters of main.bicep and sets all it requires, with
//   JSON types matching the declared ones
// - role assignments: exactly Storage Blob Data Contributor scoped to the blob container, Key
//   Vault Secrets User scoped to the vault, AcrPull scoped to the registry; each by a known
//   built-in role id, to the pods' identity; AcrPull only when acrUpstreamResourceId is set
// - security settings: no public blob access, TLS 1.2, HTTPS only, vault in RBAC mode, Redis
//   without its non-TLS port and without public network access, AKS OIDC issuer + workload
//   identity, the federated credential's audience and system:serviceaccount subject
// - against the chart and the config table: the example parameters' container, namespace and
//   ServiceAccount match values-azure-blob.yaml / the chart; the outputs documented as
//   PULLTHROUGH_* settings are variables of the config table (or pending ones)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const { readmeVariables, PENDING_VARS } = require('./config-table');

const BICEP = path.join('infra', 'bicep');
/** Built-in Azure role definition ids (the same in every tenant). */
const BUILT_IN_ROLES = {
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
  '7f951dda-4ed3-4680-a7ca-43fe172d538d': 'AcrPull',
};
/** role -> [file, resource type its scope must be]: the complete set of grants. */
const EXPECTED_GRANTS = {
  'Storage Blob Data Contributor': ['storage.bicep', 'Microsoft.Storage/storageAccounts/blobServices/containers'],
  'Key Vault Secrets User': ['keyvault.bicep', 'Microsoft.KeyVault/vaults'],
  AcrPull: ['acr-pull.bicep', 'Microsoft.ContainerRegistry/registries'],
};

/** The source with strings and comments blanked (same length), for structure checks. */
function code(text) {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/'(?:[^'\\\n]|\\.)*'/g, (m) => `'${' '.repeat(m.length - 2)}'`)
    .replace(/\/\/[^\n]*/g, (m) => ' '.repeat(m.length));
}
/** The text of the { } block opening at or after index i (balanced, in blanked code). */
function block(text, i) {
  const c = code(text);
  const start = c.indexOf('{', i);
  let depth = 0;
  for (let j = start; j < c.length; j++) {
    if (c[j] === '{') depth++;
    else if (c[j] === '}' && --depth === 0) return text.slice(start, j + 1);
  }
  return text.slice(start);
}
/** Top-level keys of a { } block. */
function keys(blockText) {
  const c = code(blockText);
  const out = [];
  let depth = 0;
  for (let j = 0; j < c.length; j++) {
    if ('{[('.includes(c[j])) depth++;
    else if ('}])'.includes(c[j])) depth--;
    else if (depth === 1) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*:/.exec(c.slice(j));
      if (m && /[\s{,]$/.test(c.slice(0, j))) {
        out.push(m[1]);
        j += m[0].length - 1;
      }
    }
  }
  return out;
}
/** param name -> { type, required } */
function params(text) {
  const out = new Map();
  for (const m of code(text).matchAll(/^param\s+(\w+)\s+(\w+)(\s*=)?/gm)) out.set(m[1], { type: m[2], required: !m[3] });
  return out;
}

function checkBicep({ root }) {
  const failures = [];
  const check = (ok, msg) => {
    if (!ok) failures.push(`${BICEP}/${msg}`);
  };
  const dir = path.join(root, BICEP);
  const files = ['main.bicep', ...fs.readdirSync(path.join(dir, 'modules')).filter((f) => f.endsWith('.bicep')).map((f) => `modules/${f}`)];
  const src = Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
  const grants = [];
  for (const [file, text] of Object.entries(src)) {
    const c = code(text);
    for (const [o, cl] of ['()', '[]', '{}']) {
      check(c.split(o).length === c.split(cl).length, `${file}: unbalanced ${o}${cl}`);
    }
    // module calls
    for (const m of text.matchAll(/^module\s+(\w+)\s+'([^']+)'/gm)) {
      const target = path.join(path.dirname(path.join(dir, file)), m[2]);
      if (!fs.existsSync(target)) {
        check(false, `${file}: module ${m[1]}: ${m[2]} does not exist`);
        continue;
      }
      const declared = params(fs.readFileSync(target, 'utf8'));
      const body = block(text, m.index);
      const pIdx = code(body).search(/\bparams\s*:/);
      const passed = pIdx < 0 ? [] : keys(block(body, pIdx));
      for (const p of passed) check(declared.has(p), `${file}: module ${m[1]} passes ${p}, which ${m[2]} does not declare`);
      for (const [p, d] of declared) if (d.required) check(passed.includes(p), `${file}: module ${m[1]} does not pass ${p}, which ${m[2]} requires`);
    }
    // role assignments
    const vars = Object.fromEntries([...text.matchAll(/^var\s+(\w+)\s*=\s*'([^']*)'/gm)].map((m) => [m[1], m[2]]));
    const symbols = Object.fromEntries([...text.matchAll(/^resource\s+(\w+)\s+'([^'@]+)@/gm)].map((m) => [m[1], m[2]]));
    for (const m of text.matchAll(/^resource\s+(\w+)\s+'Microsoft\.Authorization\/roleAssignments@[^']+'/gm)) {
      const body = block(text, m.index);
      const roleRef = /roleDefinitionId:\s*subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions',\s*(\w+)\)/.exec(body)?.[1];
      const role = BUILT_IN_ROLES[vars[roleRef]];
      check(role, `${file}: role assignment ${m[1]} does not use a known built-in role id (${roleRef ? vars[roleRef] ?? roleRef : 'none'})`);
      const scope = /^\s*scope:\s*(\w+)\s*$/m.exec(body)?.[1];
      check(/principalId:\s*principalId\b/.test(body) && /principalType:\s*'ServicePrincipal'/.test(body), `${file}: role assignment ${m[1]} must go to principalId (the pods' identity) as a ServicePrincipal`);
      grants.push({ file: path.basename(file), role, scopeType: symbols[scope] });
    }
  }
  for (const [role, [file, scopeType]] of Object.entries(EXPECTED_GRANTS)) {
    const g = grants.filter((x) => x.role === role);
    check(g.length === 1 && g[0].file === file && g[0].scopeType === scopeType, `role ${role}: expected exactly one assignment in modules/${file} scoped to ${scopeType}`);
  }
  check(grants.length === Object.keys(EXPECTED_GRANTS).length, `expected exactly ${Object.keys(EXPECTED_GRANTS).length} role assignments, found ${grants.length}`);
  const main = src['main.bicep'];
  check(/^module\s+\w+\s+'modules\/acr-pull\.bicep'\s*=\s*if\s*\(!empty\(acrUpstreamResourceId\)\)/m.test(main), 'main.bicep: AcrPull only when acrUpstreamResourceId is set');

  // security settings
  const has = (file, re, what) => check(re.test(src[file] ?? ''), `${file}: ${what}`);
  has('modules/storage.bicep', /allowBlobPublicAccess:\s*false/, 'allowBlobPublicAccess: false');
  has('modules/storage.bicep', /minimumTlsVersion:\s*'TLS1_2'/, "minimumTlsVersion: 'TLS1_2'");
  has('modules/storage.bicep', /supportsHttpsTrafficOnly:\s*true/, 'supportsHttpsTrafficOnly: true');
  has('modules/storage.bicep', /publicAccess:\s*'None'/, "container publicAccess: 'None'");
  has('modules/keyvault.bicep', /enableRbacAuthorization:\s*true/, 'enableRbacAuthorization: true');
  has('modules/redis.bicep', /enableNonSslPort:\s*false/, 'enableNonSslPort: false');
  has('modules/redis.bicep', /minimumTlsVersion:\s*'1\.2'/, "minimumTlsVersion: '1.2'");
  has('modules/redis.bicep', /publicNetworkAccess:\s*'Disabled'/, "publicNetworkAccess: 'Disabled'");
  has('modules/redis.bicep', /'maxmemory-policy':\s*'noeviction'/, "maxmemory-policy 'noeviction' (BullMQ)");
  has('modules/aks.bicep', /oidcIssuerProfile:\s*\{\s*enabled:\s*true\s*\}/, 'OIDC issuer enabled');
  has('modules/aks.bicep', /workloadIdentity:\s*\{\s*enabled:\s*true\s*\}/, 'workload identity enabled');
  has('modules/aks.bicep', /keda:\s*\{\s*enabled:\s*true\s*\}/, 'KEDA add-on enabled (the hydrator ScaledObject)');
  has('modules/identity.bicep', /audiences:\s*\['api:\/\/AzureADTokenExchange'\]/, 'federated credential audience api://AzureADTokenExchange');
  has('main.bicep', /subject:\s*'system:serviceaccount:\$\{kubernetesNamespace\}:\$\{serviceAccountName\}'/, 'federated subject system:serviceaccount:<namespace>:<serviceaccount>');

  // main.parameters.json
  const declared = params(main);
  let pfile = {};
  try {
    pfile = JSON.parse(fs.readFileSync(path.join(dir, 'main.parameters.json'), 'utf8')).parameters ?? {};
  } catch (err) {
    check(false, `main.parameters.json: ${err.message}`);
  }
  const jsonType = { string: 'string', int: 'number', bool: 'boolean', object: 'object', array: 'object' };
  for (const [k, v] of Object.entries(pfile)) {
    const d = declared.get(k);
    check(d, `main.parameters.json: ${k} is not a parameter of main.bicep`);
    if (d) check(typeof v.value === jsonType[d.type], `main.parameters.json: ${k} must be a ${d.type}`);
  }
  for (const [k, d] of declared) if (d.required) check(k in pfile, `main.parameters.json: required parameter ${k} missing`);

  // against the chart and the config table
  const chartDir = path.join(root, 'infra', 'helm', 'pullthrough');
  const values = YAML.parse(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
  const blobValues = YAML.parse(fs.readFileSync(path.join(chartDir, 'values-azure-blob.yaml'), 'utf8'));
  check(pfile.blobContainerName?.value === blobValues.config?.PULLTHROUGH_AZURE_BLOB_CONTAINER, 'main.parameters.json: blobContainerName differs from values-azure-blob.yaml PULLTHROUGH_AZURE_BLOB_CONTAINER');
  check(pfile.serviceAccountName?.value === (values.serviceAccount?.name || 'pullthrough'), 'main.parameters.json: serviceAccountName is not the chart\'s ServiceAccount for release "pullthrough"');
  const readmeVars = readmeVariables(root);
  for (const m of main.matchAll(/@description\('(PULLTHROUGH_[A-Z_]+)\.'\)\s*\noutput\s+(\w+)/g)) {
    check(readmeVars.has(m[1]) || PENDING_VARS.includes(m[1]), `main.bicep: output ${m[2]} documents ${m[1]}, which the README table does not list`);
  }
  check(/@description\('PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL\.'\)\s*\noutput\s+blobAccountUrl/.test(main), 'main.bicep: output blobAccountUrl (PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL)');

  return {
    failures,
    summary: `${files.length} files, ${grants.length} role assignments checked, not compiled`,
    note: 'bicep not compiled (no Bicep CLI here): structure, parameters, roles and settings checked from source (see infra/README.md)',
  };
}

module.exports = { checkBicep };
