{{/*
Names, labels and the endpoints every component shares. One place for each, so a template
never spells a name or an address itself.
*/}}

{{- define "kubesaga.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* `<release>-kubesaga`, or just the release name when it already says kubesaga. */}}
{{- define "kubesaga.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubesaga.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; call with (dict "root" $ "component" "orders"). */}}
{{- define "kubesaga.labels" -}}
helm.sh/chart: {{ include "kubesaga.chart" .root }}
{{ include "kubesaga.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: kubesaga
{{- end }}

{{- define "kubesaga.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubesaga.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "kubesaga.componentName" -}}
{{- printf "%s-%s" (include "kubesaga.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubesaga.secretName" -}}
{{- default (include "kubesaga.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "kubesaga.serviceAccountName" -}}
{{- printf "%s-operator" (include "kubesaga.fullname" .) }}
{{- end }}

{{- define "kubesaga.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the dependencies are: in the release, or external by value. */}}
{{- define "kubesaga.kafkaBootstrap" -}}
{{- if .Values.kafka.enabled }}
{{- printf "%s-kafka:9092" (include "kubesaga.fullname" .) }}
{{- else }}
{{- required "kafka.external.bootstrapServers is required when kafka.enabled is false" .Values.kafka.external.bootstrapServers }}
{{- end }}
{{- end }}

{{- define "kubesaga.kafkaReplication" -}}
{{- if .Values.kafka.enabled }}1{{ else }}{{ .Values.kafka.external.replication }}{{ end }}
{{- end }}

{{- define "kubesaga.postgresAddress" -}}
{{- if .Values.postgres.enabled }}
{{- printf "%s-postgres:5432" (include "kubesaga.fullname" .) }}
{{- else }}
{{- printf "%s:%v" (required "postgres.external.host is required when postgres.enabled is false" .Values.postgres.external.host) .Values.postgres.external.port }}
{{- end }}
{{- end }}

{{- define "kubesaga.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://:$(KUBESAGA_REDIS_PASSWORD)@%s-redis:6379/0" (include "kubesaga.fullname" .) }}
{{- else }}
{{- printf "redis://:$(KUBESAGA_REDIS_PASSWORD)@%s:%v/%v" (required "redis.external.host is required when redis.enabled is false" .Values.redis.external.host) .Values.redis.external.port .Values.redis.external.database }}
{{- end }}
{{- end }}

{{- define "kubesaga.serviceUrl" -}}
{{- printf "http://%s-%s" (include "kubesaga.fullname" .root) .component }}
{{- end }}

{{/* A Secret key as an environment variable. */}}
{{- define "kubesaga.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "kubesaga.secretName" .root }}
      key: {{ .key }}
{{- end }}

{{/*
The environment every service reads, with its prefix (ORDERS, INVENTORY, PAYMENTS): its own
database on the shared server, Kafka, Redis, the service token, HTTP and telemetry.
Call with (dict "root" $ "prefix" "ORDERS" "database" "orders" "port" 8001).
*/}}
{{- define "kubesaga.serviceEnv" -}}
{{- $root := .root }}
{{- $p := .prefix }}
{{ include "kubesaga.secretEnv" (dict "root" $root "name" "KUBESAGA_POSTGRES_PASSWORD" "key" "postgres-password") }}
{{ include "kubesaga.secretEnv" (dict "root" $root "name" "KUBESAGA_REDIS_PASSWORD" "key" "redis-password") }}
- name: {{ $p }}_ENVIRONMENT
  value: {{ $root.Values.environment | quote }}
- name: {{ $p }}_DB__URL
  value: {{ printf "postgresql+asyncpg://%s:$(KUBESAGA_POSTGRES_PASSWORD)@%s/%s%s" $root.Values.postgres.user (include "kubesaga.postgresAddress" $root) .database (ternary "" $root.Values.postgres.external.query $root.Values.postgres.enabled) | quote }}
- name: {{ $p }}_REDIS__URL
  value: {{ include "kubesaga.redisUrl" $root | quote }}
- name: {{ $p }}_KAFKA__BOOTSTRAP_SERVERS
  value: {{ include "kubesaga.kafkaBootstrap" $root | quote }}
- name: {{ $p }}_KAFKA__TOPIC_PREFIX
  value: {{ $root.Values.kafka.topicPrefix | quote }}
- name: {{ $p }}_KAFKA__TOPIC_PARTITIONS
  value: {{ $root.Values.kafka.partitions | quote }}
- name: {{ $p }}_KAFKA__TOPIC_REPLICATION
  value: {{ include "kubesaga.kafkaReplication" $root | quote }}
# Pods start beside their Kafka on a first install: wait for it rather than crash-loop.
- name: {{ $p }}_KAFKA__STARTUP_WAIT
  value: "PT120S"
{{ include "kubesaga.secretEnv" (dict "root" $root "name" (printf "%s_AUTH__SERVICE_TOKEN" $p) "key" "service-token") }}
{{ include "kubesaga.secretEnv" (dict "root" $root "name" (printf "%s_AUTH__JWT_SECRET" $p) "key" "jwt-secret") }}
- name: {{ $p }}_HTTP__HOST
  value: "0.0.0.0"
- name: {{ $p }}_HTTP__PORT
  value: {{ .port | quote }}
{{ include "kubesaga.telemetryEnv" (dict "root" $root "prefix" $p) }}
{{- end }}

{{- define "kubesaga.telemetryEnv" -}}
- name: {{ .prefix }}_TELEMETRY__LOG_LEVEL
  value: {{ .root.Values.telemetry.logLevel | quote }}
- name: {{ .prefix }}_TELEMETRY__TRACE_SAMPLE_RATIO
  value: {{ .root.Values.telemetry.traceSampleRatio | quote }}
{{- with .root.Values.telemetry.otlpEndpoint }}
- name: {{ $.prefix }}_TELEMETRY__OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Pod and container security: what the restricted Pod Security Standard asks. */}}
{{- define "kubesaga.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "kubesaga.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ .readOnly | default false }}
capabilities:
  drop: [ALL]
{{- end }}

{{/* A service's settings: serviceDefaults merged with its own overrides. */}}
{{- define "kubesaga.serviceSettings" -}}
{{- $defaults := deepCopy .root.Values.serviceDefaults }}
{{- toYaml (mustMergeOverwrite $defaults (deepCopy (index .root.Values .component).overrides)) }}
{{- end }}

{{/* "true" when the monitoring objects render: by value, or `auto` on a cluster serving
Prometheus Operator's API (helm template sees it with --api-versions monitoring.coreos.com/v1). */}}
{{- define "kubesaga.monitoring" -}}
{{- $enabled := toString .Values.monitoring.enabled }}
{{- if or (eq $enabled "true") (and (eq $enabled "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) }}true{{ end }}
{{- end }}

{{/* Labels of a monitoring object: the component's, plus the ones a Prometheus selects by. */}}
{{- define "kubesaga.monitoringLabels" -}}
{{ include "kubesaga.labels" . }}
{{- with .root.Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
devMode (skaffold dev). A kubesaga container's args: as given, or under `watchfiles`, which
restarts the program when a .py file under /app changes. Call with (dict "root" $ "args" LIST).
*/}}
{{- define "kubesaga.args" -}}
{{- if .root.Values.devMode.enabled }}
{{- toJson (list "python" "-m" "watchfiles" "--filter" "python" "--target-type" "command" (join " " .args) "/app") }}
{{- else }}
{{- toJson .args }}
{{- end }}
{{- end }}

{{/* devMode: the init container that copies the image's /app into the writable `app` volume
(timestamps kept, so the byte-code compiled at build time stays valid; its entries, not `.`,
whose times uid 10001 may not set on the volume's root-owned top). Call with
(dict "root" $ "resources" MAP). */}}
{{- define "kubesaga.devModeInit" -}}
{{- if .root.Values.devMode.enabled }}
- name: app
  image: {{ include "kubesaga.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: [sh, -c, "cp -R --preserve=timestamps /app/* /dev-app/"]
  securityContext:
    {{- include "kubesaga.containerSecurityContext" (dict "readOnly" true) | nindent 4 }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  volumeMounts:
    - {name: app, mountPath: /dev-app}
{{- end }}
{{- end }}

{{/* devMode: the writable /app, mounted over the image's in the container that serves. */}}
{{- define "kubesaga.devModeMount" -}}
{{- if .Values.devMode.enabled }}
- {name: app, mountPath: /app}
{{- end }}
{{- end }}

{{- define "kubesaga.devModeVolume" -}}
{{- if .Values.devMode.enabled }}
- name: app
  emptyDir: {sizeLimit: 256Mi}
{{- end }}
{{- end }}
