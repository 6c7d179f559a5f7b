#!/usr/bin/env bash
# Build the user guide (docs/) with Sphinx + MyST-NB, warnings as errors, executing the shipped
# notebooks as pages, then check every internal link of the built HTML (offline).
# Usage: bash scripts/docs.sh [PYTHON]   (default: .venv7/bin/python, which has loopal_ipy installed)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv7/bin/python}
if [ ! -x "$PY" ]; then  # a fresh clone: the README's install, in the venv scripts/test.sh uses too
  [ "$PY" = .venv7/bin/python ] || { echo "docs.sh: $PY does not exist" >&2; exit 2; }
  "${PYTHON:-python3}" -m venv .venv7
  .venv7/bin/python -m pip install -q -e ".[lab,test]" 2>&1 | grep -v "^WARNING: Location" || true
fi
"$PY" -m pip install -q "sphinx>=8,<10" "myst-nb>=1.1,<2" 2>&1 | grep -v "^WARNING: Location" || true
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# The notebooks make durable jobs and may run `loopal-ipy enable`: never in the user's own store or profile.
export LOOPAL_HOME="$scratch/home" IPYTHONDIR="$scratch/ipython"
unset LOOPAL_SESSION_ID JPY_SESSION_NAME  # each executed notebook gets a session of its own kernel
export PATH="$(cd "$(dirname "$PY")" && pwd):$PATH"
rm -rf docs/_build docs/notebooks
mkdir -p docs/notebooks
cp notebooks/*.ipynb docs/notebooks/  # pages of the guide (a copy: links between them resolve there)
"$PY" -m sphinx -W --keep-going -n -b html docs docs/_build/html
"$PY" scripts/check_links.py docs/_build/html
