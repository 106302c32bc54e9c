#!/usr/bin/env bash
# Prepares a Python to run darwin-py 3.5.3 from its public source, without PyPI (see ../README.md
# "darwin-py against the simulator"). Writes only below $OUT; prints the environment to export.
#
#   setup.sh <darwin-py source dir, e.g. `git -C <clone> archive v3.5.3 | tar -x -C /tmp/darwin-py-3.5.3`> [OUT]
#
# What it expects on the machine (as measured here):
# - a Python 3.11 with requests, pydantic 2, numpy, orjson, jsonschema and boto3 (here: pyenv 3.11.7, $PY);
# - Debian's python3-{rich,tqdm,pil,tenacity,natsort,humanize,deprecation,argcomplete} (apt-get install), which
#   Debian builds for its own 3.11: they are linked in, with their metadata (humanize reads its version from it);
# - ffmpeg on PATH for the read-only scenario only (apt-get install --no-install-recommends ffmpeg).
# json_stream and upolygon are not packaged: darwin-py imports them at start-up but uses them only to parse
# annotation files and draw masks, so they are stubbed.
set -euo pipefail
SRC=${1:?darwin-py source directory}
OUT=${2:-/tmp/darwin-py-env}
PY=${PY:-/root/.pyenv/versions/3.11.7/bin/python}
DIST=/usr/lib/python3/dist-packages

mkdir -p "$OUT/deps" "$OUT/stubs/json_stream"
for m in rich tqdm PIL tenacity natsort humanize deprecation.py markdown_it mdurl pygments argcomplete; do
  ln -sfn "$DIST/$m" "$OUT/deps/$m"
done
for d in "$DIST"/{rich,tqdm,Pillow,tenacity,natsort,humanize,deprecation,markdown_it_py,mdurl,Pygments,argcomplete}*-info; do
  ln -sfn "$d" "$OUT/deps/$(basename "$d")"
done

cat > "$OUT/stubs/json_stream/__init__.py" <<'EOF'
# Stub: darwin-py parses annotation files with json_stream; push and register never do.
def load(*args, **kwargs):
    raise NotImplementedError("json_stream is stubbed")
EOF
cat > "$OUT/stubs/json_stream/base.py" <<'EOF'
class PersistentStreamingJSONList(list):
    pass


class PersistentStreamingJSONObject(dict):
    pass
EOF
cat > "$OUT/stubs/upolygon.py" <<'EOF'
# Stub: darwin-py draws masks with upolygon; push and register never do.
def _stub(*args, **kwargs):
    raise NotImplementedError("upolygon is stubbed")


draw_polygon = find_contours = rle_decode = rle_encode = _stub
EOF

PYTHONPATH="$OUT/stubs:$OUT/deps:$SRC" "$PY" -m darwin.cli version >/dev/null
cat <<EOF
export PYTHONPATH=$OUT/stubs:$OUT/deps:$SRC
alias darwin='$PY -m darwin.cli'   # darwin-py $(PYTHONPATH="$OUT/stubs:$OUT/deps:$SRC" "$PY" -m darwin.cli version)
EOF
