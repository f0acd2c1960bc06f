// Checks across the objects of one rendering (kustomize or helm): what refers to what resolves,
// and every workload is locked down. Objects defined elsewhere (Secrets you create) are not
// checked here.
'use strict';

const subset = (a = {}, b = {}) => Object.entries(a).every(([k, v]) => b[k] === v);

/** docs: plain objects of one rendering; label: where they came from. Returns failures. */
function checkReferences(docs, label) {
  const failures = [];
  const check = (ok, msg) => {
    if (!ok) failures.push(`${label}: ${msg}`);
  };
  const byKind = (kind) => docs.filter((d) => d.kind === kind);
  const names = (kind) => new Set(byKind(kind).map((d) => d.metadata.name));
  const configMaps = names('ConfigMap');
  const workloads = docs.filter((d) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(d.kind));
  for (const w of workloads) {
    const id = `${w.kind} ${w.metadata.name}`;
    const pod = w.spec.template.spec;
    const claims = new Set([...names('PersistentVolumeClaim'), ...(w.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name)]);
    check(subset(w.spec.selector?.matchLabels, w.spec.template.metadata?.labels), `${id}: selector does not match its pod labels`);
    if (w.kind !== 'DaemonSet') check(pod.securityContext?.runAsNonRoot === true, `${id}: runAsNonRoot`);
    check(pod.automountServiceAccountToken === false, `${id}: automountServiceAccountToken must be false`);
    const volumes = new Set([...(pod.volumes ?? []).map((v) => v.name), ...(w.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name)]);
    for (const v of pod.volumes ?? []) {
      if (v.configMap) check(configMaps.has(v.configMap.name), `${id}: ConfigMap ${v.configMap.name} not defined`);
      if (v.persistentVolumeClaim) check(claims.has(v.persistentVolumeClaim.claimName), `${id}: PVC ${v.persistentVolumeClaim.claimName} not defined`);
    }
    for (const c of pod.containers) {
      const cid = `${id}/${c.name}`;
      const sc = c.securityContext ?? {};
      check(sc.readOnlyRootFilesystem === true && sc.allowPrivilegeEscalation === false, `${cid}: read-only root fs, no privilege escalation`);
      check((sc.capabilities?.drop ?? []).includes('ALL'), `${cid}: capabilities drop ALL`);
      check(c.resources?.requests && c.resources?.limits, `${cid}: resources requests and limits`);
      for (const m of c.volumeMounts ?? []) check(volumes.has(m.name), `${cid}: volumeMount ${m.name} has no volume`);
      for (const ef of c.envFrom ?? []) if (ef.configMapRef) check(configMaps.has(ef.configMapRef.name), `${cid}: envFrom ConfigMap ${ef.configMapRef.name} not defined`);
      const portNames = new Set((c.ports ?? []).map((p) => p.name));
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
        if (typeof port === 'string') check(portNames.has(port), `${cid}: ${probe} port ${port} is not a named container port`);
      }
    }
  }
  for (const svc of byKind('Service')) {
    const target = workloads.find((w) => subset(svc.spec.selector, w.spec.template.metadata?.labels));
    check(target, `Service ${svc.metadata.name}: selector matches no workload's pods`);
    const ports = new Set((target?.spec.template.spec.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.name)));
    for (const p of svc.spec.ports) if (typeof p.targetPort === 'string') check(ports.has(p.targetPort), `Service ${svc.metadata.name}: targetPort ${p.targetPort} is not a named port of its pods`);
  }
  for (const pdb of byKind('PodDisruptionBudget')) {
    check(workloads.some((w) => subset(pdb.spec.selector?.matchLabels, w.spec.template.metadata?.labels)), `PodDisruptionBudget ${pdb.metadata.name}: selector matches no workload's pods`);
  }
  const targeted = new Map();
  for (const a of [...byKind('HorizontalPodAutoscaler'), ...byKind('ScaledObject')]) {
    const t = a.spec.scaleTargetRef.name;
    check(workloads.some((w) => w.metadata.name === t), `${a.kind} ${a.metadata.name}: target ${t} not defined`);
    check(!targeted.has(t), `${t} has two autoscalers (${targeted.get(t)} and ${a.kind})`);
    targeted.set(t, a.kind);
    for (const trig of a.spec.triggers ?? []) {
      if (trig.authenticationRef) check(names('TriggerAuthentication').has(trig.authenticationRef.name), `ScaledObject ${a.metadata.name}: TriggerAuthentication ${trig.authenticationRef.name} not defined`);
    }
  }
  for (const w of workloads) {
    if (targeted.has(w.metadata.name)) check(w.spec.replicas === undefined, `${w.kind} ${w.metadata.name}: replicas must be left to its autoscaler`);
  }
  return failures;
}

module.exports = { checkReferences };
