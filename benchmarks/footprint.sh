#!/usr/bin/env bash
# What `pip install 'faceedge[cpu]'` puts on a device: a fresh virtual environment, the lean install,
# and the size of each installed package (the empty environment's pip and setuptools subtracted).
#   bash benchmarks/footprint.sh [results-folder]
set -euo pipefail
OUT=${1:-benchmarks/results}
VENV=$(mktemp -d)/venv
python3 -m venv "$VENV"
SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
BASE=$(du -sk "$SITE" | cut -f1)
EMPTY=$(ls "$SITE")  # what an empty environment already holds: pip, setuptools
"$VENV/bin/python" -m pip install --quiet '.[cpu]' 2>&1 | grep -v '^WARNING: Location' || true
TOTAL=$(du -sk "$SITE" | cut -f1)
{
  echo "| installed | MB |"
  echo "| --- | --- |"
  du -sk "$SITE"/* | sort -rn | while read -r kb path; do
    grep -qxF "$(basename "$path")" <<<"$EMPTY" && continue
    [[ $kb -lt 1024 ]] && continue  # metadata folders and small helpers
    awk -v kb="$kb" -v name="$(basename "$path")" 'BEGIN { printf "| %s | %.1f |\n", name, kb / 1024 }'
  done
  awk -v kb="$((TOTAL - BASE))" 'BEGIN { printf "| **all of faceedge[cpu]** | **%.1f** |\n", kb / 1024 }'
} | tee "$OUT/footprint.md"
rm -rf "$(dirname "$VENV")"
