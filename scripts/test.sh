#!/usr/bin/env bash
# Install and run every test, as README.md says: `bash scripts/test.sh`.
#  - Debian's chromium for the browser test (never `playwright install`);
#  - .venv7: this package with ipykernel 7 + JupyterLab + playwright: the whole suite;
#  - .venv6: the same package with the newest ipykernel 6 and IPython 8: kernel, shell, unit tests;
#  - the user guide (scripts/docs.sh: Sphinx, warnings as errors, notebooks executed, links checked);
#  - benchmark smoke runs on tiny sizes (the real numbers come from docs/benchmarks.md's commands).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

setup() {  # setup DIR EXTRA_PIP_ARGS...
  local dir=$1; shift
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  "$dir/bin/python" -m pip install -q -e ".[test]" "$@" 2>&1 | grep -v "^WARNING: Location" || true
  "$dir/bin/python" -c "import loopal_ipy, ipykernel, IPython; print('$dir: ipykernel', ipykernel.__version__, 'IPython', IPython.__version__)"
}

setup .venv7 "ipykernel>=7,<8" "jupyterlab>=4.2,<5" "notebook>=7,<8" "voila>=0.5,<0.6" "ipylab>=1.1,<2" "playwright>=1.45,<2" "apscheduler>=3.10,<4" "sphinx>=8,<10" "myst-nb>=1.1,<2"
# .venv6 also holds jupyter-scheduler (with the croniter 1.4 it pins) and papermill: the export
# tests (tests/server/test_export.py) run there, and `pip check` proves the two install together.
setup .venv6 "ipykernel>=6.29,<7" "ipython>=8.30,<9" "jupyter-scheduler>=2.12,<3"
.venv6/bin/python -m pip check

.venv7/bin/ruff check loopal_ipy tests benchmarks scripts docs
# The two suites run side by side (kernel tests mostly wait on timers), which also runs
# each of them on a loaded machine; .venv6's output follows .venv7's.
log6=$(mktemp)
# The file store's tests (pure Python, no Jupyter) and the notebooks under papermill and
# nbconvert (marker "clients") run in the .venv6 leg only: it is the shorter one, so the two
# legs end together.
.venv6/bin/python -m pytest -q -p no:cacheprovider -m "not subshells" tests/kernel tests/shell tests/unit tests/store \
  tests/server/test_export.py > "$log6" 2>&1 &
pid6=$!
# The user guide (Sphinx + MyST-NB, warnings as errors, the notebooks executed as pages, internal
# links checked) builds beside the two legs; its log follows theirs.
logdocs=$(mktemp)
bash scripts/docs.sh .venv7/bin/python > "$logdocs" 2>&1 &
piddocs=$!
rc7=0; .venv7/bin/python -m pytest -q -p no:cacheprovider -m "not clients" --ignore=tests/store \
  --ignore=tests/server/test_export.py tests || rc7=$?
rc6=0; wait "$pid6" || rc6=$?
rcdocs=0; wait "$piddocs" || rcdocs=$?
echo "--- .venv6 (ipykernel 6, IPython 8):"; cat "$log6"; rm -f "$log6"
echo "--- the user guide:"; grep -v "without encryption" "$logdocs" | tail -20; rm -f "$logdocs"
[ "$rc7" = 0 ] && [ "$rc6" = 0 ] && [ "$rcdocs" = 0 ] || {
  echo "failed: .venv7 tests rc=$rc7, .venv6 tests rc=$rc6, docs rc=$rcdocs"; exit 1; }
.venv7/bin/python benchmarks/bench_fire.py --fires 3 --idle 2 > /dev/null && echo "benchmark smoke: bench_fire ok"
.venv7/bin/python benchmarks/bench_table.py --seconds 2 --big 60 > /dev/null && echo "benchmark smoke: bench_table ok"
.venv7/bin/python benchmarks/run.py --quick > /dev/null && echo "benchmark smoke: run.py --quick ok"
