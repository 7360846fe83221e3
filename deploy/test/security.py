#!/usr/bin/env python3
"""Assertions on the chart's rendered output, scenario by scenario.

    security.py RENDER_DIR [--configs-out DIR]

RENDER_DIR holds, per scenario, `<scenario>.yaml` (rendered with the
monitoring.coreos.com/v1 API available) and `<scenario>.no-monitoring.yaml`
(without it), as deploy/test/check-chart.sh writes them. Every pod template
(CronJob job templates, Deployments; init containers too) must carry the
restricted Pod Security settings, requests and limits and a config
checksum; CronJobs must not overlap; a PodDisruptionBudget exists exactly for
Deployments with more than one replica; the NetworkPolicy allows DNS and
HTTPS out and the metrics port in, nothing else; a ServiceMonitor (a CRD
kubernetes-validate has no schema for) is checked for shape here.

With --configs-out, the files the ConfigMaps carry (probe.yaml,
topology.json, aws-routing.yaml) and every container's arguments
(commands.json) are written to DIR/<scenario>/ so the Rust test can load
them with geolat's own parsers.

Every failure names the scenario, the object and the field; the exit
status is 1 if any failed.
"""

import datetime
import ipaddress
import json
import os
import re
import sys

import yaml

UID = 65532
DURATION = re.compile(r"^([0-9]+)(ms|s|m|h)$")
# The only egress the NetworkPolicy may allow: DNS and HTTPS anywhere, and
# the EKS Pod Identity Agent (with serviceAccount.podIdentity).
DNS_HTTPS = {(53, "UDP"), (53, "TCP"), (443, "TCP")}
POD_IDENTITY_AGENT = {"169.254.170.23/32", "fd00:ec2::23/128"}
# ServiceMonitor fields the chart may write (monitoring.coreos.com/v1).
SM_SPEC = {"jobLabel", "namespaceSelector", "selector", "targetLabels", "sampleLimit", "endpoints", "podTargetLabels"}
SM_ENDPOINT = {"port", "path", "scheme", "interval", "scrapeTimeout", "honorLabels", "relabelings", "metricRelabelings"}


class Checker:
    def __init__(self):
        self.failures = []
        self.checked = 0

    def fail(self, where, message):
        self.failures.append(f"{where}: {message}")

    def expect(self, cond, where, message):
        self.checked += 1
        if not cond:
            self.fail(where, message)
        return cond


def seconds(text):
    m = DURATION.match(str(text))
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2)
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


# --- cron: the shortest time between two runs --------------------------------

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
NAMES = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
    "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
}


def cron_field(text, lo, hi):
    """The set of values a cron field matches, and whether it restricts."""
    values = set()
    for part in text.lower().split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/")
            step = int(s)
        if part in ("*", "?"):
            a, b = lo, hi
        elif "-" in part:
            a, b = (int(NAMES.get(x, x)) for x in part.split("-"))
        else:
            a = int(NAMES.get(part, part))
            b = hi if step > 1 else a
        values.update(range(a, b + 1, step))
    if hi == 7 and 7 in values:  # day of week: 7 is Sunday too
        values.add(0)
    return values, text not in ("*", "?")


def cron_period(schedule):
    """Shortest gap in seconds between consecutive runs over two weeks."""
    schedule = MACROS.get(schedule.strip(), schedule)
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"{schedule!r} is not five cron fields")
    minute, _ = cron_field(fields[0], 0, 59)
    hour, _ = cron_field(fields[1], 0, 23)
    dom, dom_r = cron_field(fields[2], 1, 31)
    month, _ = cron_field(fields[3], 1, 12)
    dow, dow_r = cron_field(fields[4], 0, 7)
    t = datetime.datetime(2025, 1, 6)
    runs = []
    for _ in range(14 * 24 * 60):
        weekday = (t.weekday() + 1) % 7
        day_ok = (t.day in dom or weekday in dow) if (dom_r and dow_r) else (t.day in dom and weekday in dow)
        if t.minute in minute and t.hour in hour and t.month in month and day_ok:
            runs.append(t)
        t += datetime.timedelta(minutes=1)
    if len(runs) < 2:
        return None  # monthly or rarer: any sane deadline is below it
    return min((b - a).total_seconds() for a, b in zip(runs, runs[1:]))


# --- pod templates ------------------------------------------------------------

def pod_templates(doc):
    kind = doc.get("kind")
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return [doc["spec"]["template"]]
    if kind == "Pod":
        return [doc]
    return []


def check_pod(c, where, template, volumes_ok):
    meta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    annotations = meta.get("annotations") or {}
    c.expect(re.fullmatch(r"[0-9a-f]{64}", str(annotations.get("checksum/config", ""))), where,
             "pod template lacks a checksum/config annotation (sha256)")
    c.expect(spec.get("automountServiceAccountToken") is False, where,
             "automountServiceAccountToken must be false (geolat never calls the Kubernetes API)")
    c.expect(bool(spec.get("serviceAccountName")), where, "no serviceAccountName")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        c.expect(not spec.get(key), where, f"{key} must not be set")
    psc = spec.get("securityContext") or {}
    c.expect(psc.get("runAsNonRoot") is True, where, "pod securityContext.runAsNonRoot must be true")
    c.expect(psc.get("runAsUser") == UID, where, f"pod securityContext.runAsUser must be {UID}")
    c.expect(psc.get("runAsGroup") == UID, where, f"pod securityContext.runAsGroup must be {UID}")
    c.expect((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", where,
             "pod securityContext.seccompProfile.type must be RuntimeDefault")

    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    for name, v in volumes.items():
        c.expect("hostPath" not in v, where, f"volume {name} is a hostPath")
        if "configMap" in v:
            c.expect(v["configMap"]["name"] in volumes_ok, where,
                     f"volume {name} mounts ConfigMap {v['configMap']['name']}, which the release does not make")

    containers = [("container", x) for x in spec.get("containers") or []]
    containers += [("initContainer", x) for x in spec.get("initContainers") or []]
    c.expect(bool(spec.get("containers")), where, "no containers")
    for role, ctr in containers:
        cw = f"{where} {role} {ctr.get('name')}"
        sc = ctr.get("securityContext") or {}
        c.expect(sc.get("allowPrivilegeEscalation") is False, cw, "allowPrivilegeEscalation must be false")
        c.expect(not sc.get("privileged"), cw, "privileged must not be true")
        caps = sc.get("capabilities") or {}
        c.expect("ALL" in (caps.get("drop") or []), cw, "capabilities.drop must hold ALL")
        c.expect(not caps.get("add"), cw, "capabilities.add must be empty")
        c.expect(sc.get("readOnlyRootFilesystem") is True, cw, "readOnlyRootFilesystem must be true")
        c.expect(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, cw, "runAsNonRoot must be true")
        c.expect(sc.get("runAsUser", psc.get("runAsUser")) == UID, cw, f"runAsUser must be {UID}")
        c.expect(sc.get("runAsGroup", psc.get("runAsGroup")) == UID, cw, f"runAsGroup must be {UID}")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        c.expect(seccomp == "RuntimeDefault", cw, "seccompProfile.type must be RuntimeDefault")
        res = ctr.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                c.expect(r in (res.get(kind) or {}), cw, f"resources.{kind}.{r} missing")
        image = str(ctr.get("image", ""))
        c.expect(re.search(r":[^/@]+(@sha256:[0-9a-f]{64})?$", image) and not image.endswith(":latest"), cw,
                 f"image {image!r} has no pinned tag")
        mounts = {m["mountPath"]: m for m in ctr.get("volumeMounts") or []}
        tmp = mounts.get("/tmp")
        c.expect(tmp is not None and "emptyDir" in volumes.get(tmp["name"], {}), cw,
                 "/tmp must be an emptyDir mount (the root filesystem is read-only)")
        for m in mounts.values():
            c.expect(m["name"] in volumes, cw, f"mount {m['mountPath']} names no volume {m['name']}")
    return containers


def check_cronjob(c, where, doc):
    spec = doc["spec"]
    job = spec["jobTemplate"]["spec"]
    c.expect(spec.get("concurrencyPolicy") == "Forbid", where, "concurrencyPolicy must be Forbid")
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "timeZone"):
        c.expect(key in spec, where, f"spec.{key} missing")
    c.expect(isinstance(spec.get("suspend"), bool), where, "spec.suspend must be set (true or false)")
    c.expect(not str(spec.get("schedule", "")).startswith(("TZ=", "CRON_TZ=")), where,
             "the time zone belongs in spec.timeZone, not the schedule")
    for key in ("activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        c.expect(key in job, where, f"jobTemplate.spec.{key} missing")
    c.expect(0 <= job.get("backoffLimit", 99) <= 3, where, "backoffLimit must be small (0..3)")
    c.expect(job["template"]["spec"].get("restartPolicy") in ("Never", "OnFailure"), where,
             "a Job's pods restart Never or OnFailure")
    try:
        period = cron_period(spec["schedule"])
    except ValueError as e:
        c.fail(where, f"schedule: {e}")
        return
    if period is not None:
        c.expect(job.get("activeDeadlineSeconds", period) < period, where,
                 f"activeDeadlineSeconds {job.get('activeDeadlineSeconds')} is not below the schedule's "
                 f"period ({spec['schedule']!r}: {period:.0f} s): a run could still be going when the next is due")
        c.expect(spec.get("startingDeadlineSeconds", period) < period, where,
                 f"startingDeadlineSeconds {spec.get('startingDeadlineSeconds')} is not below the period ({period:.0f} s)")


def check_analyzer_steps(c, where, doc):
    """The analyzer's steps, in order; apply only as the last, with --apply --yes."""
    spec = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    steps = [x["args"][0] for x in spec.get("initContainers") or []] + [x["args"][0] for x in spec["containers"]]
    c.expect(steps[0] == "analyze" and steps[-1] in ("advise", "apply"), where, f"analyzer steps {steps}")
    if "apply" in steps:
        c.expect(steps[-3:] == ["advise", "plan", "apply"], where, f"apply must follow advise and plan: {steps}")
        args = spec["containers"][0]["args"]
        c.expect("--apply" in args and "--yes" in args, where, "the apply step must pass --apply --yes")
    for x in spec.get("initContainers") or []:
        c.expect(x["args"][0] != "apply", where, "apply must be the main container, after every other step")


def check_exporter(c, where, doc, services):
    tpl = doc["spec"]["template"]
    ctr = tpl["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in ctr.get("ports") or []}
    c.expect("metrics" in ports, where, "no container port named metrics")
    args = ctr.get("args") or []
    c.expect("--serve" in args, where, "the exporter runs `probe --serve`")
    if "--serve" in args:
        addr = args[args.index("--serve") + 1]
        c.expect(addr.endswith(f":{ports.get('metrics')}"), where, f"--serve {addr} is not the metrics port")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (ctr.get(probe) or {}).get("httpGet") or {}
        c.expect(get.get("path") == path and get.get("port") in ("metrics", ports.get("metrics")), where,
                 f"{probe} must GET {path} on the metrics port")
    labels = tpl["metadata"]["labels"]
    exposed = [s for s in services if selects(s["spec"].get("selector") or {}, labels)
               and any(p.get("targetPort") in ("metrics", ports.get("metrics")) for p in s["spec"]["ports"])]
    c.expect(exposed, where, "no Service exposes the metrics port")
    return labels, ports.get("metrics")


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_networkpolicy(c, where, doc, pods, metrics_ports):
    spec = doc["spec"]
    sel = (spec.get("podSelector") or {}).get("matchLabels") or {}
    for pw, labels in pods:
        c.expect(selects(sel, labels), where, f"podSelector does not select {pw}")
    c.expect(set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}, where, "policyTypes must be Ingress and Egress")
    for rule in spec.get("egress") or []:
        ports = {(p.get("port"), p.get("protocol", "TCP")) for p in rule.get("ports") or []}
        to = rule.get("to")
        if ports == {(80, "TCP")} and to:
            cidrs = {(peer.get("ipBlock") or {}).get("cidr") for peer in to}
            c.expect(cidrs <= POD_IDENTITY_AGENT, where, f"port 80 egress only to the Pod Identity Agent, not {cidrs}")
            continue
        c.expect(ports and ports <= DNS_HTTPS, where, f"egress ports {sorted(ports)}: only 53 UDP/TCP and 443 TCP")
    allowed = {(p, "TCP") for p in metrics_ports}
    ingress = spec.get("ingress") or []
    for rule in ingress:
        ports = {(p.get("port"), p.get("protocol", "TCP")) for p in rule.get("ports") or []}
        c.expect(ports and ports <= allowed, where,
                 f"ingress ports {sorted(ports)}: only the exporter's metrics port {sorted(allowed)}")
    if not metrics_ports:
        c.expect(not ingress, where, "no exporter: no ingress at all")


def check_servicemonitor(c, where, doc, services):
    c.expect(doc.get("apiVersion") == "monitoring.coreos.com/v1", where, "apiVersion must be monitoring.coreos.com/v1")
    meta = doc.get("metadata") or {}
    c.expect(meta.get("name") and meta.get("namespace"), where, "metadata.name and namespace required")
    spec = doc.get("spec") or {}
    c.expect(set(spec) <= SM_SPEC, where, f"unknown spec fields {sorted(set(spec) - SM_SPEC)}")
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    targets = [s for s in services if selects(sel, s["metadata"].get("labels") or {})]
    c.expect(targets, where, "selector matches no Service of the release")
    names = set((spec.get("namespaceSelector") or {}).get("matchNames") or [])
    for s in targets:
        c.expect(s["metadata"]["namespace"] in names, where, "namespaceSelector does not name the Service's namespace")
    endpoints = spec.get("endpoints") or []
    c.expect(endpoints, where, "no endpoints")
    for e in endpoints:
        c.expect(set(e) <= SM_ENDPOINT, where, f"unknown endpoint fields {sorted(set(e) - SM_ENDPOINT)}")
        c.expect(any(p.get("name") == e.get("port") for s in targets for p in s["spec"]["ports"]), where,
                 f"endpoint port {e.get('port')!r} is no port of the Service")
        interval, timeout = seconds(e.get("interval")), seconds(e.get("scrapeTimeout"))
        c.expect(interval and timeout and timeout <= interval, where,
                 f"scrapeTimeout {e.get('scrapeTimeout')} must be a duration no longer than interval {e.get('interval')}")
        c.expect(isinstance(e.get("honorLabels", False), bool), where, "honorLabels must be a boolean")
        for key in ("relabelings", "metricRelabelings"):
            c.expect(all(isinstance(r, dict) for r in e.get(key) or []), where, f"{key} must be a list of objects")
    if "sampleLimit" in spec:
        c.expect(isinstance(spec["sampleLimit"], int) and spec["sampleLimit"] > 0, where, "sampleLimit must be a positive integer")


def check_scenario(c, scenario, docs, docs_nomon, configs_out):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    name = lambda d: f"{scenario}: {d['kind']}/{d['metadata']['name']}"
    for d in docs:
        c.expect(d["metadata"].get("namespace"), name(d), "metadata.namespace must be set")
    configmaps = {d["metadata"]["name"] for d in by_kind.get("ConfigMap", [])}
    services = by_kind.get("Service", [])
    service_accounts = {d["metadata"]["name"]: d for d in by_kind.get("ServiceAccount", [])}

    for sa in service_accounts.values():
        c.expect(sa.get("automountServiceAccountToken") is False, name(sa), "automountServiceAccountToken must be false")
        arn = (sa["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn")
        if arn is not None:
            c.expect(re.fullmatch(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/.+", arn), name(sa), f"role-arn {arn!r}")

    pods = []
    metrics_ports = set()
    for d in docs:
        for tpl in pod_templates(d):
            pods.append((name(d), tpl["metadata"].get("labels") or {}))
            check_pod(c, name(d), tpl, configmaps)
            sa = tpl["spec"].get("serviceAccountName")
            if sa in service_accounts and any(x["args"][0] == "apply" for x in tpl["spec"]["containers"]):
                ann = service_accounts[sa]["metadata"].get("annotations") or {}
                c.expect(ann.get("eks.amazonaws.com/role-arn") or ann.get("geolat/pod-identity-role-arn"), name(d),
                         f"the apply step runs as {sa}, which names no role")
    for d in by_kind.get("CronJob", []):
        check_cronjob(c, name(d), d)
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "analyzer":
            check_analyzer_steps(c, name(d), d)
    deployments = by_kind.get("Deployment", [])
    for d in deployments:
        _, port = check_exporter(c, name(d), d, services)
        if port:
            metrics_ports.add(port)

    pdbs = by_kind.get("PodDisruptionBudget", [])
    for pdb in pdbs:
        sel = pdb["spec"]["selector"]["matchLabels"]
        covered = [d for d in deployments if selects(sel, d["spec"]["template"]["metadata"]["labels"])]
        c.expect(covered and all(d["spec"].get("replicas", 1) > 1 for d in covered), name(pdb),
                 "a PodDisruptionBudget only for a Deployment with more than one replica")
        for d in by_kind.get("CronJob", []):
            labels = pod_templates(d)[0]["metadata"].get("labels") or {}
            c.expect(not selects(sel, labels), name(pdb), f"selects the pods of {name(d)}")
    for d in deployments:
        if d["spec"].get("replicas", 1) > 1:
            labels = d["spec"]["template"]["metadata"]["labels"]
            c.expect(any(selects(p["spec"]["selector"]["matchLabels"], labels) for p in pdbs), name(d),
                     "more than one replica but no PodDisruptionBudget")

    for d in by_kind.get("NetworkPolicy", []):
        check_networkpolicy(c, name(d), d, pods, metrics_ports)
    for d in by_kind.get("ServiceMonitor", []):
        check_servicemonitor(c, name(d), d, services)
    c.expect(not any(d["kind"] == "ServiceMonitor" for d in docs_nomon), f"{scenario} (no monitoring API)",
             "a ServiceMonitor rendered although the cluster does not serve monitoring.coreos.com/v1")

    if configs_out:
        out = os.path.join(configs_out, scenario)
        os.makedirs(out, exist_ok=True)
        commands = []
        for d in docs:
            for tpl in pod_templates(d):
                spec = tpl["spec"]
                for ctr in (spec.get("initContainers") or []) + spec["containers"]:
                    commands.append({"object": f"{d['kind']}/{d['metadata']['name']}",
                                     "container": ctr["name"], "args": ctr.get("args") or []})
        with open(os.path.join(out, "commands.json"), "w") as f:
            json.dump(commands, f, indent=1)
        for cm in by_kind.get("ConfigMap", []):
            for key, text in (cm.get("data") or {}).items():
                if key in ("probe.yaml", "topology.json", "aws-routing.yaml"):
                    if key.endswith(".json"):
                        json.loads(text)
                    else:
                        yaml.safe_load(text)
                    with open(os.path.join(out, key), "w") as f:
                        f.write(text)


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def main(argv):
    args = argv[1:]
    configs_out = None
    if "--configs-out" in args:
        i = args.index("--configs-out")
        configs_out = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    render = args[0]
    c = Checker()
    scenarios = sorted(f[:-5] for f in os.listdir(render) if f.endswith(".yaml") and not f.endswith(".no-monitoring.yaml"))
    if not scenarios:
        print(f"security.py: no rendered scenarios in {render}", file=sys.stderr)
        return 1
    for s in scenarios:
        check_scenario(c, s, load(os.path.join(render, f"{s}.yaml")),
                       load(os.path.join(render, f"{s}.no-monitoring.yaml")), configs_out)
    for f in c.failures:
        print(f"FAIL {f}", file=sys.stderr)
    print(f"security.py: {len(scenarios)} scenarios, {c.checked} assertions, {len(c.failures)} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
