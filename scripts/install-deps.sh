#!/usr/bin/env bash
# Installs what Parsimony needs to build, run its demo and run its tests on Debian or
# Ubuntu: PostgreSQL's server binaries (initdb, pg_ctl, postgres), make, Chromium
# (the end-to-end tests drive it headless) and poppler-utils (pdftotext, which the
# statement PDF tests read their documents back with). Go itself
# must be installed (https://go.dev/doc/install); everything Go is fetched by `go`.
# Safe to run again; does nothing when all is there.
set -euo pipefail

have_postgres() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

missing=()
have_postgres || missing+=(postgresql)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
# pdftotext: the statement PDF tests read back the text of the documents they render.
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
# DejaVu Sans: the font statement PDFs embed (and their tests expect).
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# postgresql pulls in a cluster that Debian starts as a service; Parsimony never uses
# it (it runs its own private clusters), so it is stopped if it started.
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null 2>&1; then
  $sudo pg_ctlcluster --force "$(pg_lsclusters -h | awk 'NR==1{print $1}')" main stop 2>/dev/null || true
fi
