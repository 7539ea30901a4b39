{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "liveupdate-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; a release already named after the chart is not repeated. */}}
{{- define "liveupdate-operator.fullname" -}}
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

{{- define "liveupdate-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "liveupdate-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: liveupdate-operator
{{- end }}

{{/* Selector labels of one component (operator or agent): pass (dict "ctx" $ "component" "operator"). */}}
{{- define "liveupdate-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "liveupdate-operator.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "liveupdate-operator.componentLabels" -}}
{{ include "liveupdate-operator.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "liveupdate-operator.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* Objects of the operator take the release fullname; the agent's add "-agent". Pass (dict "ctx" $ "component" …). */}}
{{- define "liveupdate-operator.componentName" -}}
{{- $fullname := include "liveupdate-operator.fullname" .ctx }}
{{- if eq .component "operator" }}{{ $fullname }}{{ else }}{{ printf "%s-%s" $fullname .component | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{/* Service account of a component: pass (dict "ctx" $ "component" "operator"). */}}
{{- define "liveupdate-operator.serviceAccountName" -}}
{{- $sa := (index .ctx.Values .component).serviceAccount }}
{{- if $sa.create }}
{{- default (include "liveupdate-operator.componentName" .) $sa.name }}
{{- else }}
{{- required (printf "%s.serviceAccount.name is required when %s.serviceAccount.create is false" .component .component) $sa.name }}
{{- end }}
{{- end }}

{{- define "liveupdate-operator.leaseName" -}}
{{- default (include "liveupdate-operator.fullname" .) .Values.operator.leaderElection.id }}
{{- end }}
