#!/usr/bin/env bash
# Independent judges from PyPI for the control plane's tests, in a virtualenv cached outside
# the clone: tuspy (tus client), standardwebhooks (webhook signatures),
# openapi-spec-validator and schemathesis (the OpenAPI document and the API behind it), moto
# (an AWS emulator: Transcribe's job lifecycle; botocore, which it brings, signs SigV4 for our fake).
# jsonschema and referencing (which openapi-spec-validator brings) judge the pages' API
# exchanges against the document (control/tests/judges/page_api_judge.py). xmlschema validates
# the edge's DASH MPD against the MPEG-DASH schema (edge/tests/schemas/dash). Pillow decodes the
# edge's pictures (thumbnails, storyboards, animations) independently of FFmpeg.
# Prints the virtualenv's python.
set -euo pipefail
VENV=${SUNOMI_VENV:-$HOME/.cache/sunomi/venv}
PKGS=(tuspy==1.1.0 standardwebhooks==1.1.0 openapi-spec-validator==0.9.0 schemathesis==4.32.5 "moto[server]==5.2.5" xmlschema==4.3.2 pillow==11.3.0)
STAMP="$VENV/.sunomi-judges"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV" >&2
fi
if [[ ! -f "$STAMP" ]] || [[ "$(cat "$STAMP")" != "${PKGS[*]}" ]]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PKGS[@]}" >&2
  echo "${PKGS[*]}" > "$STAMP"
fi
echo "$VENV/bin/python"
