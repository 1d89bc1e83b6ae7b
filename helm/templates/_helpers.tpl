{{- define "wippy.name" -}}
{{- default "wippy-operator" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wippy.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (default "operator" .Values.nameOverride) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wippy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wippy.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "wippy.labels" -}}
{{ include "wippy.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "wippy.selector" -}}
app.kubernetes.io/name: {{ include "wippy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wippy.webhookService" -}}
{{- printf "%s-webhook" (include "wippy.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* the operator's ValidatingWebhookConfiguration: one per release (releases watching
different namespaces each keep their own) */ -}}
{{- define "wippy.webhookConfig" -}}
{{- printf "%s.%s.wippy.ai" (include "wippy.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "wippy.webhookSecret" -}}
{{- default (printf "%s-webhook-tls" (include "wippy.fullname" .)) .Values.webhook.certSecret -}}
{{- end -}}
