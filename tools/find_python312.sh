#!/usr/bin/env bash
# Print the path of a Python 3.12 interpreter, or explain how to get one and fail.
# Looks at: $PYTHON, python3.12 on PATH (pyenv shims need PYENV_VERSION), pyenv's installed 3.12.x, uv.
set -u
is_312() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1; }

for candidate in "${PYTHON:-}" python3.12; do
  [ -n "$candidate" ] || continue
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if is_312 "$path"; then echo "$path"; exit 0; fi
  # pyenv's shim answers only when a 3.12 version is selected.
  if command -v pyenv >/dev/null 2>&1; then
    for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.|$)' | sort -V -r); do
      if PYENV_VERSION=$version is_312 "$path"; then
        real=$(PYENV_VERSION=$version pyenv which python3.12 2>/dev/null) && { echo "$real"; exit 0; }
      fi
    done
  fi
done
if command -v pyenv >/dev/null 2>&1; then
  for dir in "$(pyenv root)"/versions/3.12*; do
    [ -x "$dir/bin/python3.12" ] && is_312 "$dir/bin/python3.12" && { echo "$dir/bin/python3.12"; exit 0; }
  done
fi
if command -v uv >/dev/null 2>&1; then
  path=$(uv python find 3.12 2>/dev/null) && is_312 "$path" && { echo "$path"; exit 0; }
fi
echo "motionvla needs Python 3.12 (lerobot 0.6 requires it) and none was found." >&2
echo "Install one (e.g. 'pyenv install 3.12', 'uv python install 3.12', or your OS package), or set PYTHON=/path/to/python3.12." >&2
exit 1
