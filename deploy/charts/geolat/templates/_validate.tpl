{{/*
Contradictions values.schema.json cannot express (it checks each key's
shape; these relate keys to each other). Each failure names the keys and
what to do. Included once, from validate.yaml, which renders nothing.
*/}}
{{- define "geolat.validate" -}}
{{- $v := .Values -}}

{{- /* The store: s3://BUCKET[/PREFIX] or file:///ABSOLUTE/PATH. */ -}}
{{- $url := $v.store.url -}}
{{- if not (or (regexMatch "^s3://[^/]+" $url) (regexMatch "^file:///" $url)) -}}
{{- fail (printf "store.url %q: give s3://BUCKET/PREFIX or file:///ABSOLUTE/PATH (geolat stores nowhere else)" $url) -}}
{{- end -}}
{{- if and $v.store.persistentVolumeClaim (hasPrefix "s3://" $url) -}}
{{- fail (printf "store.persistentVolumeClaim %q is for a file:// store; store.url is %q" $v.store.persistentVolumeClaim $url) -}}
{{- end -}}

{{- /* Where this release runs. */ -}}
{{- $c := $v.configuration -}}
{{- if eq $c.location "region" -}}
{{- if not (has $c.region $v.topology.regions) -}}
{{- fail (printf "configuration.region %q is not in topology.regions %v: a region's release runs in one of the service's regions" $c.region $v.topology.regions) -}}
{{- end -}}
{{- if $c.edge -}}
{{- fail (printf "configuration.edge %q is for configuration.location edge (location is region)" $c.edge) -}}
{{- end -}}
{{- else -}}
{{- if not (has $c.edge $v.topology.edges) -}}
{{- fail (printf "configuration.edge %q is not in topology.edges %v: an edge release names its edge location" $c.edge $v.topology.edges) -}}
{{- end -}}
{{- end -}}

{{- /* The probe YAML agrees with where the release runs. */ -}}
{{- if or $v.probe.enabled $v.exporter.enabled -}}
{{- if not $v.probe.config.probe -}}
{{- fail "probe.config: give the probe YAML (probes/*.yaml) as a map, with its `probe:` identity" -}}
{{- end -}}
{{- $p := (include "geolat.probeConfig" . | fromYaml).probe -}}
{{- if ne (toString $p.location) $c.location -}}
{{- fail (printf "probe.config.probe.location %q differs from configuration.location %q" (toString $p.location) $c.location) -}}
{{- end -}}
{{- if eq $c.location "region" -}}
{{- if ne (toString $p.region) $c.region -}}
{{- fail (printf "probe.config.probe.region %q differs from configuration.region %q" (toString $p.region) $c.region) -}}
{{- end -}}
{{- else if hasKey $p "region" -}}
{{- if $p.region -}}
{{- fail (printf "probe.config.probe.region %q: an edge probe has no region" (toString $p.region)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Credentials. */ -}}
{{- if and $v.serviceAccount.podIdentity $v.serviceAccount.roleArn -}}
{{- fail "serviceAccount.roleArn is for IRSA; with serviceAccount.podIdentity the role is bound by `aws eks create-pod-identity-association`: leave roleArn empty" -}}
{{- end -}}

{{- /* The analyzer. */ -}}
{{- $a := $v.analyzer -}}
{{- if $a.apply.enabled -}}
{{- if not $a.apply.roleArn -}}
{{- fail "analyzer.apply.enabled needs analyzer.apply.roleArn: the IAM role allowed to change Route 53 and Global Accelerator (the apply ServiceAccount's role)" -}}
{{- end -}}
{{- if not $a.enabled -}}
{{- fail "analyzer.apply.enabled needs analyzer.enabled: apply runs as the analyzer's last step" -}}
{{- end -}}
{{- if not $a.aws -}}
{{- fail "analyzer.apply.enabled needs analyzer.aws: what geolat controls (deploy/aws-routing.example.yaml)" -}}
{{- end -}}
{{- end -}}
{{- if and $a.enabled $a.readRouting (not $a.aws) -}}
{{- fail "analyzer.readRouting needs analyzer.aws (deploy/aws-routing.example.yaml as a map), or set readRouting false" -}}
{{- end -}}
{{- if $a.enabled -}}
{{- $topology := include "geolat.topologyMap" . | fromJson -}}
{{- $ids := list -}}
{{- range $topology.regions -}}
{{- $ids = append $ids .id -}}
{{- end -}}
{{- if ne (sortAlpha $ids | join ",") (sortAlpha $v.topology.regions | join ",") -}}
{{- fail (printf "analyzer.topology's regions %v are not topology.regions %v" (sortAlpha $ids) (sortAlpha $v.topology.regions)) -}}
{{- end -}}
{{- end -}}

{{- /* The exporter. */ -}}
{{- $e := $v.exporter -}}
{{- if and $e.enabled $e.storeWindows $v.probe.enabled -}}
{{- fail "exporter.storeWindows with probe.enabled would store every window twice: disable one (probe.enabled false, or exporter.storeWindows false)" -}}
{{- end -}}
{{- if and $v.serviceMonitor.enabled (not $e.enabled) -}}
{{- fail "serviceMonitor.enabled needs exporter.enabled: only the exporter serves metrics" -}}
{{- end -}}
{{- $min := $e.podDisruptionBudget.minAvailable -}}
{{- if and $e.enabled (gt (int $e.replicas) 1) (not (kindIs "string" $min)) -}}
{{- if ge (int $min) (int $e.replicas) -}}
{{- fail (printf "exporter.podDisruptionBudget.minAvailable %d would keep all %d replicas up: no node could ever be drained" (int $min) (int $e.replicas)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
