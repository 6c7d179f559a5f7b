#!/usr/bin/env bash
# The README's install alone runs every shipped notebook (docs/development.md): a venv with
# `pip install -e ".[lab]"` and nothing else, each notebook under `jupyter execute`, in a fresh
# temp folder that must be empty afterwards (the notebooks clean up what they make).
# Usage: bash scripts/readme_install.sh   (makes .venvlab once; CI runs it from scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venvlab/bin/python ] || "$PY" -m venv .venvlab
.venvlab/bin/python -m pip install -q -e ".[lab]" 2>&1 | grep -v "^WARNING: Location" || true
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/tmp" "$scratch/work"
export TMPDIR="$scratch/tmp" LOOPAL_HOME="$scratch/home" IPYTHONDIR="$scratch/ipython"
export JUPYTER_RUNTIME_DIR="$scratch/runtime" JUPYTER_DATA_DIR="$scratch/data" PATH="$PWD/.venvlab/bin:$PATH"
unset LOOPAL_SESSION_ID JPY_SESSION_NAME
rc=0
for nb in notebooks/*.ipynb; do
  cp "$nb" "$scratch/work/"
  if (cd "$scratch/work" && jupyter execute --kernel_name=python3 "$(basename "$nb")" > "$scratch/out.log" 2>&1); then
    echo "readme install: $(basename "$nb") ran"
  else
    echo "readme install: $(basename "$nb") FAILED"; tail -30 "$scratch/out.log"; rc=1
  fi
done
left=$(ls -A "$scratch/tmp")
if [ -n "$left" ]; then echo "readme install: left in the temp folder: $left"; rc=1; fi
[ "$rc" = 0 ] && echo "readme install: 4 notebooks ran under .[lab] alone, nothing left in the temp folder"
exit "$rc"
