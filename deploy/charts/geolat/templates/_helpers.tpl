{{/*
Names, labels and the pieces every pod shares. Every pod template is
built from geolat.podSpec so the restricted Pod Security settings, the
/tmp emptyDir and the store volume cannot differ between them.
*/}}

{{- define "geolat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "geolat.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A name for one part of the release, within 52 characters (CronJob names
must leave 11 for the Job suffix). */}}
{{- define "geolat.partName" -}}
{{- $fullname := include "geolat.fullname" .root | trunc (sub 51 (len .part) | int) | trimSuffix "-" -}}
{{- printf "%s-%s" $fullname .part -}}
{{- end -}}

{{- define "geolat.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "geolat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "geolat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "geolat.labels" -}}
helm.sh/chart: {{ include "geolat.chart" . }}
{{ include "geolat.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: geolat
geolat/environment: {{ .Values.configuration.environment | quote }}
geolat/region: {{ .Values.configuration.region | quote }}
geolat/location: {{ .Values.configuration.location | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of one component: {root, component}. */}}
{{- define "geolat.componentLabels" -}}
{{ include "geolat.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "geolat.componentSelectorLabels" -}}
{{ include "geolat.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "geolat.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "geolat.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: give the existing ServiceAccount's name when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "geolat.applyServiceAccountName" -}}
{{- include "geolat.partName" (dict "root" . "part" "apply") -}}
{{- end -}}

{{- define "geolat.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The store's filesystem path for a file:// URL ("" for s3://). */}}
{{- define "geolat.storePath" -}}
{{- if hasPrefix "file://" .Values.store.url -}}
{{- trimPrefix "file://" .Values.store.url -}}
{{- end -}}
{{- end -}}

{{/* The probe YAML and the analyzer's files, rendered once: the ConfigMaps
hold them and the checksum annotations hash them. */}}
{{- define "geolat.probeConfig" -}}
{{- $cfg := deepCopy .Values.probe.config -}}
{{- $p := deepCopy (default dict $cfg.probe) -}}
{{- /* probe.location and, for a region, probe.region default to where the
release runs (configuration), so an edge overlay inherits no region. */ -}}
{{- if not (hasKey $p "location") -}}
{{- $_ := set $p "location" .Values.configuration.location -}}
{{- end -}}
{{- if and (eq .Values.configuration.location "region") (not (hasKey $p "region")) -}}
{{- $_ := set $p "region" .Values.configuration.region -}}
{{- end -}}
{{- $_ := set $cfg "probe" $p -}}
{{ toYaml $cfg }}
{{- end -}}

{{- define "geolat.topologyMap" -}}
{{- if .Values.analyzer.topology -}}
{{ toJson .Values.analyzer.topology }}
{{- else -}}
{{ .Files.Get "files/topology.json" | fromJson | toJson }}
{{- end -}}
{{- end -}}

{{- define "geolat.analyzerConfig" -}}
topology.json: |
{{ include "geolat.topologyMap" . | fromJson | toPrettyJson | indent 2 }}
{{- if .Values.analyzer.aws }}
aws-routing.yaml: |
{{ toYaml .Values.analyzer.aws | indent 2 }}
{{- end }}
{{- end -}}

{{/* Pod-level security: restricted Pod Security Standard, uid/gid 65532
(the distroless nonroot user, numeric so runAsNonRoot can check it). */}}
{{- define "geolat.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "geolat.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "geolat.env" -}}
- name: AWS_REGION
  value: {{ default .Values.configuration.region .Values.store.region | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ default .Values.configuration.region .Values.store.region | quote }}
{{- end -}}

{{/* The mounts every container has: /tmp, and the store's volume for a
file:// store. */}}
{{- define "geolat.baseMounts" -}}
- name: tmp
  mountPath: /tmp
{{- with include "geolat.storePath" . }}
- name: store
  mountPath: {{ . }}
{{- end }}
{{- end -}}

{{/* One container: {root, name, args, resources, mounts (list), extra (YAML
string)}. */}}
{{- define "geolat.container" -}}
- name: {{ .name }}
  image: {{ include "geolat.image" .root | quote }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args:
    {{- toYaml .args | nindent 4 }}
  env:
    {{- include "geolat.env" .root | nindent 4 }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- include "geolat.containerSecurityContext" .root | nindent 4 }}
  volumeMounts:
    {{- include "geolat.baseMounts" .root | nindent 4 }}
    {{- with .mounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .extra }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Pod spec pieces shared by every pod: {root, serviceAccountName,
volumes (list), restartPolicy}. Containers are added by the caller. */}}
{{- define "geolat.podCommon" -}}
serviceAccountName: {{ .serviceAccountName }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
terminationGracePeriodSeconds: 30
securityContext:
  {{- include "geolat.podSecurityContext" .root | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .root.Values.tmpSizeLimit }}
  {{- with include "geolat.storePath" .root }}
  - name: store
    {{- if $.root.Values.store.persistentVolumeClaim }}
    persistentVolumeClaim:
      claimName: {{ $.root.Values.store.persistentVolumeClaim }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  {{- end }}
  {{- with .volumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Pod template metadata: {root, component, checksum}. */}}
{{- define "geolat.podMetadata" -}}
labels:
  {{- include "geolat.componentLabels" (dict "root" .root "component" .component) | nindent 2 }}
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ .checksum }}
  {{- with .root.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The fields every CronJob takes from its values block: {root, values,
component, podSpec (YAML string), checksum}. */}}
{{- define "geolat.cronJob" -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ include "geolat.partName" (dict "root" .root "part" .component) }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "geolat.componentLabels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  schedule: {{ .values.schedule | quote }}
  timeZone: {{ .values.timeZone | quote }}
  suspend: {{ .values.suspend }}
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: {{ .values.startingDeadlineSeconds }}
  successfulJobsHistoryLimit: {{ .values.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ .values.failedJobsHistoryLimit }}
  jobTemplate:
    metadata:
      labels:
        {{- include "geolat.componentLabels" (dict "root" .root "component" .component) | nindent 8 }}
    spec:
      activeDeadlineSeconds: {{ .values.activeDeadlineSeconds }}
      backoffLimit: {{ .values.backoffLimit }}
      ttlSecondsAfterFinished: {{ .values.ttlSecondsAfterFinished }}
      template:
        metadata:
          {{- include "geolat.podMetadata" (dict "root" .root "component" .component "checksum" .checksum) | nindent 10 }}
        spec:
          {{- .podSpec | nindent 10 }}
{{- end -}}

{{/* The exporter container's port and probes: alive while the process
runs, ready once its first window finished (and no more after SIGTERM). */}}
{{- define "geolat.exporterProbes" -}}
ports:
  - name: metrics
    containerPort: {{ .Values.exporter.port }}
    protocol: TCP
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
{{- end -}}
