#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian machine: system packages (Chromium for the
# browser tests, a Java runtime for the Spark engine, poppler for PDF checks), the Python
# environment pinned by uv.lock, and G-Confid's own environment (tools/gconfid/uv.lock). Safe to re-run: it does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(chromium openjdk-17-jre-headless poppler-utils fonts-dejavu-core)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv"
  "$PY" -m pip install --quiet --disable-pip-version-check uv
fi
UV=$(command -v uv || echo "$PY -m uv")
# --locked: fail rather than silently drift from uv.lock.
# --compile-bytecode: write .pyc files at install time. Machines that set PYTHONDONTWRITEBYTECODE
# (this one does) otherwise recompile every imported module in every process: about a second per
# process, paid by every stage, render worker and Jupyter kernel.
$UV sync --locked --all-extras --quiet --compile-bytecode
.venv/bin/python -m compileall -q src >/dev/null || true
echo "setup: environment ready (.venv)"
# Statistics Canada's G-Confid, the independent check of the disclosure audit, in its own locked
# environment (tools/gconfid: it pins duckdb<2, which the project's environment cannot hold).
$UV sync --locked --quiet --compile-bytecode --project tools/gconfid
echo "setup: G-Confid environment ready (tools/gconfid/.venv)"
