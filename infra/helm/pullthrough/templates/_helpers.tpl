{{/* Names and labels. */}}
{{- define "pullthrough.fullname" -}}
{{- if .Values.fullnameOverride -}}{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}{{- end -}}
{{- end -}}
{{- end -}}

{{- define "pullthrough.labels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: include "pullthrough.selector" (list . "frontend") */}}
{{- define "pullthrough.selector" -}}
app.kubernetes.io/name: {{ default (index . 0).Chart.Name (index . 0).Values.nameOverride }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "pullthrough.serviceAccountName" -}}
{{- default (include "pullthrough.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "pullthrough.filesystem" -}}
{{- if eq .Values.config.PULLTHROUGH_STORAGE "filesystem" -}}true{{- end -}}
{{- end -}}

{{/* Pod security context: non-root, RuntimeDefault seccomp (the restricted Pod Security Standard). */}}
{{- define "pullthrough.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "pullthrough.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* REDIS_URL: from the Secret, or built from the dev Redis's password (dependent env var). */}}
{{- define "pullthrough.redisEnv" -}}
{{- if .Values.redis.enabled }}
- name: PULLTHROUGH_DEV_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.passwordSecret.name }}
      key: {{ .Values.redis.passwordSecret.key }}
- name: REDIS_URL
  value: "redis://:$(PULLTHROUGH_DEV_REDIS_PASSWORD)@{{ include "pullthrough.fullname" . }}-redis:6379"
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.redis.name }}
      key: {{ .Values.secrets.redis.urlKey }}
{{- end }}
{{- end -}}

{{/* Volumes both Deployments mount: data dir, /tmp, upstream secrets. */}}
{{- define "pullthrough.sharedVolumes" -}}
- name: data
{{- if include "pullthrough.filesystem" . }}
  persistentVolumeClaim:
    claimName: {{ include "pullthrough.fullname" . }}-data
{{- else }}
  emptyDir:
    sizeLimit: 1Gi
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: upstream-secrets
  secret:
    secretName: {{ .Values.secrets.upstream.name }}
    optional: true
    defaultMode: 0440
{{- end -}}

{{- define "pullthrough.sharedMounts" -}}
- name: data
  mountPath: {{ .Values.config.PULLTHROUGH_DATA_DIR }}
- name: tmp
  mountPath: /tmp
- name: upstream-secrets
  mountPath: /run/secrets/pullthrough
  readOnly: true
{{- end -}}
