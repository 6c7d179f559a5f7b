#!/usr/bin/env bash
# Install and run every test, as README.md says: `bash scripts/test.sh`.
#  - Debian's chromium for the browser test (never `playwright install`);
#  - .venv7: this package with ipykernel 7 + JupyterLab + playwright: the whole suite;
#  - .venv6: the same package with the newest ipykernel 6 and IPython 8: kernel, shell, unit tests
#    and the export to jupyter-scheduler;
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
.venv7/bin/lint-imports  # the layer contract of pyproject.toml ([tool.importlinter])
.venv7/bin/mypy  # the package's types (pyproject.toml [tool.mypy]; strict on core and storage)
# Three legs run side by side (kernel tests mostly wait on timers: the two CPUs are a third busy),
# which also runs each of them on a loaded machine; the background legs' output follows:
#  - kernel: .venv7's kernel, shell and unit tests (ipykernel 7, IPython 9), in the foreground;
#  - ipykernel 6: the same tests under ipykernel 6 / IPython 8 (subshells are 7's), and
#    %cron export against a real jupyter-scheduler (installed in that venv only);
#  - browser and clients: JupyterLab, Notebook 7 and Voila in chromium, the server's culler, the
#    file store's tests (pure Python), and the notebooks under papermill and nbconvert ("clients");
#  - the user guide (Sphinx + MyST-NB, warnings as errors, notebooks executed, links checked), then
#    every shipped notebook under the README's `pip install -e ".[lab]"` alone (scripts/readme_install.sh).
log6=$(mktemp); logb=$(mktemp); logdocs=$(mktemp)
.venv6/bin/python -m pytest -q -p no:cacheprovider --durations=12 -m "not subshells and not clients" tests/kernel tests/shell \
  tests/unit tests/server/test_export.py > "$log6" 2>&1 &
pid6=$!
{ rcx=0; .venv7/bin/python -m pytest -q -p no:cacheprovider --durations=12 tests/browser tests/server/test_culling.py tests/server/test_restart.py tests/store \
  || rcx=1; .venv7/bin/python -m pytest -q -p no:cacheprovider --durations=12 -m clients tests/kernel || rcx=1; exit "$rcx"; } \
  > "$logb" 2>&1 &
pidb=$!
{ bash scripts/docs.sh .venv7/bin/python && bash scripts/readme_install.sh; } > "$logdocs" 2>&1 &
piddocs=$!
rc7=0; .venv7/bin/python -m pytest -q -p no:cacheprovider --durations=12 -m "not clients" tests/kernel tests/shell tests/unit || rc7=$?
rc6=0; wait "$pid6" || rc6=$?
rcb=0; wait "$pidb" || rcb=$?
rcdocs=0; wait "$piddocs" || rcdocs=$?
echo "--- ipykernel 6 (IPython 8):"; cat "$log6"
echo "--- browser, server culling, store and clients:"; cat "$logb"
echo "--- the user guide, and the README's install alone:"; grep -v "without encryption" "$logdocs" | tail -24
rm -f "$log6" "$logb" "$logdocs"
[ "$rc7" = 0 ] && [ "$rc6" = 0 ] && [ "$rcb" = 0 ] && [ "$rcdocs" = 0 ] || {
  echo "failed: kernel rc=$rc7, ipykernel 6 rc=$rc6, browser/clients rc=$rcb, docs rc=$rcdocs"; exit 1; }
.venv7/bin/python benchmarks/bench_fire.py --fires 3 --idle 2 > /dev/null && echo "benchmark smoke: bench_fire ok"
.venv7/bin/python benchmarks/bench_table.py --seconds 2 --big 60 > /dev/null && echo "benchmark smoke: bench_table ok"
.venv7/bin/python benchmarks/run.py --quick > /dev/null && echo "benchmark smoke: run.py --quick ok"
