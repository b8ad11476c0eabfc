{{/* The chart's name, at most 63 characters. */}}
{{- define "charter.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: the release name, with the chart's name unless it is in it. */}}
{{- define "charter.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "charter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "charter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: charter
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that select Charter's pods. */}}
{{- define "charter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "charter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "charter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "charter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "charter.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The pod template shared by the Deployment (single) and the StatefulSet (ha). */}}
{{- define "charter.podTemplate" -}}
metadata:
  labels:
    {{- include "charter.labels" . | nindent 4 }}
  annotations:
    # A changed charter file rolls the pods.
    checksum/charter: {{ .Values.charter | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "charter.serviceAccountName" . }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- if eq .Values.mode "ha" }}
  affinity:
    {{- if .Values.affinity }}
    {{- toYaml .Values.affinity | nindent 4 }}
    {{- else }}
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "charter.selectorLabels" . | nindent 16 }}
    {{- end }}
  {{- else if .Values.affinity }}
  affinity:
    {{- toYaml .Values.affinity | nindent 4 }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ add (include "charter.graceSeconds" . | int) 10 }}
  containers:
    - name: charter
      image: {{ include "charter.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - run
        - /etc/charter/charter.yaml
        - --listen=0.0.0.0:{{ .Values.port }}
        - --grace={{ .Values.grace }}
        - --log={{ .Values.logLevel }}
        - --log-format={{ .Values.logFormat }}
        {{- if eq .Values.mode "single" }}
        - --db=/var/lib/charter/charter.db
        {{- end }}
      env:
        {{- if eq .Values.mode "ha" }}
        # The pod's name is its replica id in the leader lease: stable across restarts.
        - name: CHARTER_REPLICA_ID
          valueFrom:
            fieldRef: { fieldPath: metadata.name }
        {{- end }}
        {{- if .Values.tokens.api.existingSecret }}
        - name: CHARTER_API_TOKEN_FILE
          value: /etc/charter/api-token
        {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.port }}
          protocol: TCP
      readinessProbe:
        httpGet: { path: /readyz, port: http }
        periodSeconds: 10
      livenessProbe:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 20
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - { name: charter-file, mountPath: /etc/charter, readOnly: true }
        {{- if eq .Values.mode "single" }}
        - { name: knowledge, mountPath: /var/lib/charter }
        {{- end }}
        - { name: tmp, mountPath: /tmp }
  volumes:
    # The charter file and the secrets it names, side by side in /etc/charter.
    - name: charter-file
      projected:
        sources:
          - configMap:
              name: {{ include "charter.fullname" . }}
              items: [{ key: charter.yaml, path: charter.yaml }]
          {{- if .Values.tokens.api.existingSecret }}
          - secret:
              name: {{ .Values.tokens.api.existingSecret }}
              items: [{ key: {{ .Values.tokens.api.key }}, path: api-token }]
          {{- end }}
          {{- if .Values.tokens.alerts.existingSecret }}
          - secret:
              name: {{ .Values.tokens.alerts.existingSecret }}
              items: [{ key: {{ .Values.tokens.alerts.key }}, path: alert-token }]
          {{- end }}
          {{- if eq .Values.mode "ha" }}
          - secret:
              name: {{ .Values.postgres.existingSecret }}
              items: [{ key: {{ .Values.postgres.key }}, path: postgres-url }]
          {{- end }}
    {{- if eq .Values.mode "single" }}
    - name: knowledge
      persistentVolumeClaim:
        claimName: {{ include "charter.fullname" . }}-knowledge
    {{- end }}
    - name: tmp
      emptyDir: {}
{{- end -}}

{{/* --grace in whole seconds (accepts Ns and Nm). */}}
{{- define "charter.graceSeconds" -}}
{{- $g := toString .Values.grace -}}
{{- if hasSuffix "m" $g -}}{{ mul (trimSuffix "m" $g | int) 60 }}{{- else -}}{{ trimSuffix "s" $g | int }}{{- end -}}
{{- end -}}

{{/* Checks no schema can express. */}}
{{- define "charter.validate" -}}
{{- if and (eq .Values.mode "ha") (not (contains "postgres" .Values.charter)) -}}
{{- fail "mode: ha needs a PostgreSQL knowledge store: put `knowledge: { postgres: { url_file: /etc/charter/postgres-url } }` in values.charter" -}}
{{- end -}}
{{- if and (eq .Values.mode "single") (contains "postgres" .Values.charter) -}}
{{- fail "mode: single keeps its knowledge in SQLite on a volume; for PostgreSQL set mode: ha" -}}
{{- end -}}
{{- end -}}
