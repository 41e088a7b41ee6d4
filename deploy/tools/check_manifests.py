"""The invariants of the rendered Kubernetes manifests that matter in operation, checked on
`kustomize build` output (stdin) against the facts the code states
(`sunomi-control deploy-facts`, a JSON file named by the first argument):

- every edge advertises its own pod IP to the fleet, is ready only by `/readyz`, and leaves
  the fleet's ring in a preStop hook;
- KEDA scales the transcode workers on the stream and consumer group the worker code reads,
  and the workers it scales take transcode jobs;
- every edge asks the `sunomi-pictures` Service at its port, with the same secret the
  picture service requires;
- every container sets CPU and memory requests and a memory limit, and every pod runs as
  a non-root user.

Prints what it checked; exits 1 with the broken invariants."""

import json
import sys

import yaml


def containers(doc):
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return spec, spec.get("containers", [])


def main() -> int:
    facts = json.load(open(sys.argv[1]))
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    problems = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])

    edges = [d for d in workloads if d["metadata"]["name"] == "sunomi-edge"]
    if len(edges) != 1:
        problems.append("exactly one sunomi-edge Deployment expected")
    for edge in edges:
        _, cs = containers(edge)
        c = cs[0]
        env = {e["name"]: e for e in c.get("env", [])}
        pod_ip = env.get("POD_IP", {}).get("valueFrom", {}).get("fieldRef", {})
        if pod_ip.get("fieldPath") != "status.podIP":
            problems.append("edge: POD_IP must come from the downward API (status.podIP)")
        if not any(a.startswith("--advertise=$(POD_IP):") for a in c.get("args", [])):
            problems.append("edge: --advertise must be the pod IP")
        if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            problems.append("edge: readiness must be /readyz")
        pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        if "leave" not in pre:
            problems.append("edge: a preStop hook must leave the ring (sunomi-edge leave)")

    pictures = [d for d in workloads if d["metadata"]["name"] == "sunomi-pictures"]
    services = {d["metadata"]["name"]: d for d in by_kind.get("Service", [])}
    if len(pictures) != 1 or "sunomi-pictures" not in services:
        problems.append("exactly one sunomi-pictures Deployment and its Service expected")
    else:
        port = services["sunomi-pictures"]["spec"]["ports"][0]["port"]
        p_env = {e["name"]: e for e in containers(pictures[0])[1][0].get("env", [])}
        p_secret = p_env.get("SUNOMI_PICTURES_SECRET", {}).get("valueFrom")
        for edge in edges:
            e_env = {e["name"]: e for e in containers(edge)[1][0].get("env", [])}
            if e_env.get("SUNOMI_PICTURES_URL", {}).get("value") != f"http://sunomi-pictures:{port}":
                problems.append(f"edge: SUNOMI_PICTURES_URL must be http://sunomi-pictures:{port}")
            if p_secret is None or e_env.get("SUNOMI_PICTURES_SECRET", {}).get("valueFrom") != p_secret:
                problems.append("edge and picture service must read the same pictures secret")

    group = facts["queue"]["group"]
    stream = facts["queue"]["streams"]["transcode"]
    scaled = by_kind.get("ScaledObject", [])
    if not scaled:
        problems.append("no KEDA ScaledObject")
    for so in scaled:
        target = so["spec"]["scaleTargetRef"]["name"]
        for t in so["spec"]["triggers"]:
            if t["type"] != "redis-streams":
                problems.append(f"{so['metadata']['name']}: trigger {t['type']} is not redis-streams")
                continue
            m = t["metadata"]
            if m.get("stream") != stream:
                problems.append(f"KEDA stream {m.get('stream')!r} is not the workers' {stream!r}")
            if m.get("consumerGroup") != group:
                problems.append(f"KEDA group {m.get('consumerGroup')!r} is not the workers' {group!r}")
            if "lagCount" not in m:
                problems.append("KEDA must scale on lagCount")
        targets = [d for d in workloads if d["metadata"]["name"] == target]
        if not targets:
            problems.append(f"KEDA scales {target}, which does not exist")
        for d in targets:
            args = containers(d)[1][0].get("args", [])
            if "worker" not in args or "--kinds=transcode" not in args:
                problems.append(f"{target} does not run transcode workers: {args}")

    for d in workloads:
        name = d["metadata"]["name"]
        spec, cs = containers(d)
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            problems.append(f"{name}: pods must run as non-root")
        for c in cs:
            res = c.get("resources", {})
            req = res.get("requests", {})
            if "cpu" not in req or "memory" not in req:
                problems.append(f"{name}/{c['name']}: CPU and memory requests are required")
            if "memory" not in res.get("limits", {}):
                problems.append(f"{name}/{c['name']}: a memory limit is required")

    if problems:
        for p in problems:
            print(f"manifest invariant broken: {p}", file=sys.stderr)
        return 1
    print(json.dumps({"workloads": len(workloads), "scaled_objects": len(scaled)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
