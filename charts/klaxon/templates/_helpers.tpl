{{/* The release's name, or release-chart when the release name does not hold the chart's. */}}
{{- define "klaxon.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "klaxon.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "klaxon.labels" -}}
{{ include "klaxon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "klaxon.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "klaxon.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "klaxon.systemNamespace" -}}
{{- default .Release.Namespace .Values.systemNamespace -}}
{{- end -}}

{{- define "klaxon.webhookService" -}}
{{- printf "%s-webhook" (include "klaxon.fullname" .) -}}
{{- end -}}

{{- define "klaxon.webhookSecret" -}}
{{- printf "%s-webhook-cert" (include "klaxon.fullname" .) -}}
{{- end -}}

{{/*
klaxon.rules: the rules of the first document of kind .kind in the file .file of
files/, which link to Klaxon's generated or hand-kept RBAC in config/rbac, so the
chart grants exactly what the code declares.
*/}}
{{- define "klaxon.rules" -}}
{{- $found := dict -}}
{{- range $doc := splitList "\n---" (.root.Files.Get .file) -}}
{{- $obj := fromYaml $doc -}}
{{- if and (not $found.rules) (eq (get $obj "kind") $.kind) -}}
{{- $_ := set $found "rules" $obj.rules -}}
{{- end -}}
{{- end -}}
{{- required (printf "no %s with rules in files/%s" .kind .file) $found.rules | toYaml -}}
{{- end -}}
