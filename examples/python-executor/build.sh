#!/bin/sh
# Packs py_echo/ into one executable file, a Python zipapp run by Debian's
# /usr/bin/python3: what goes into jobgraph's plugin directory, since
# jobgraph verifies, copies and runs each plugin as a single file.
#
#   ./build.sh [OUTPUT]     (default: dist/py-echo next to this script)
#
# The build is reproducible (sorted entries, fixed timestamps): the same
# sources give the same bytes, so the same SHA-256 in plugins.json.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/dist/py-echo}
mkdir -p "$(dirname "$out")"
/usr/bin/python3 - "$here/py_echo" "$out" <<'PY'
import pathlib, sys, zipfile
src, out = pathlib.Path(sys.argv[1]), sys.argv[2]
with open(out, "wb") as f:
    # -I (isolated): PYTHONPATH, PYTHONHOME and pip's per-user packages
    # cannot change what the plugin runs.
    f.write(b"#!/usr/bin/python3 -I\n")
    with zipfile.ZipFile(f, "w") as z:
        for path in sorted(src.glob("*.py")):  # no __pycache__
            info = zipfile.ZipInfo(path.name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, path.read_bytes())
PY
chmod 755 "$out"
echo "$out"
