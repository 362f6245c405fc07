{{/* Names and labels shared by every template. */}}
{{- define "avec.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "avec.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: avec
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "avec.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "avec.image" -}}
{{- $tag := .image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.imageRegistry -}}
{{- printf "%s/%s:%s" .root.Values.imageRegistry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "avec.operatorName" -}}{{ include "avec.fullname" . }}-operator{{- end -}}
{{- define "avec.remotingName" -}}{{ include "avec.fullname" . }}-remoting-server{{- end -}}
{{- define "avec.webhookName" -}}{{ include "avec.fullname" . }}-webhook{{- end -}}
{{- define "avec.webhookCertSecret" -}}{{ include "avec.fullname" . }}-webhook-cert{{- end -}}
{{- define "avec.ticketSecret" -}}
{{- .Values.ticketKeys.existingSecret | default (printf "%s-ticket-keys" (include "avec.fullname" .)) -}}
{{- end -}}
