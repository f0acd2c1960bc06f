// Kubernetes objects against the Kubernetes OpenAPI schemas, offline: the JSON-schema validators
// that the npm packages kubernetes-models (core API groups) and @kubernetes-models/keda
// (ScaledObject, TriggerAuthentication) ship precompiled. What this catches: missing required
// fields, wrong types (a string port, a number label), unknown enum values, malformed
// quantities. What it does NOT catch: unknown (misspelt) fields; these schemas allow additional
// properties, unlike kubeconform -strict, which is not available here; k8s-strict.js catches them.
'use strict';

const MODULES = {
  'v1': 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
};

/** docs: [{ where, doc }]; returns failures. An apiVersion/kind without a schema is a failure. */
async function validateObjects(docs) {
  const failures = [];
  for (const { where, doc } of docs) {
    const mod = MODULES[doc.apiVersion];
    const Model = mod && (await import(mod))[doc.kind];
    if (!Model) {
      failures.push(`${where}: no schema for ${doc.apiVersion} ${doc.kind} (add its module to infra/scripts/lib/k8s-schema.js)`);
      continue;
    }
    try {
      new Model(doc).validate();
    } catch (err) {
      failures.push(`${where}: ${doc.kind} ${doc.metadata?.name}: ${err.message} (Kubernetes schema)`);
    }
  }
  return failures;
}

module.exports = { validateObjects };
