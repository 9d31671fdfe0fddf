#!/usr/bin/env bash
# Installs what tests/test_browser.py needs and checks it works: Debian's chromium (driven by
# the playwright Python package; Playwright's own browser download does not work here).
#
# Usage: bash .ci/browser.sh [PYTHON]    PYTHON: the test venv's interpreter (checks that
#                                        jupyterlab, playwright and ipympl import)
# Idempotent: installs nothing when /usr/bin/chromium (or $TRAJVIZ_CHROMIUM) exists.
set -euo pipefail

chromium=${TRAJVIZ_CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $chromium ]]; then
    sudo=()
    [[ $(id -u) -ne 0 ]] && sudo=(sudo)
    echo "browser.sh: installing Debian chromium (apt-get)" >&2
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q chromium
fi
"$chromium" --version

if [[ $# -ge 1 ]]; then
    "$1" -c "import jupyterlab, playwright, ipympl, ipywidgets; print('browser.sh: jupyterlab',
        jupyterlab.__version__, '| ipympl', ipympl.__version__, '| ipywidgets',
        ipywidgets.__version__)"
fi
