# SPDX-License-Identifier: MIT OR Apache-2.0
# Sourced by the benches that run ultralytics beside hmg (from the repository root): the release
# hmg, the ultralytics venv ($venv), a scratch folder ($work, removed on exit) and ultralytics'
# offline settings pointing into it.
hmg=target/release/hmg
[ -x "$hmg" ] || cargo build --release --locked -p hmg-launcher
scripts/setup-ultralytics >&2
venv="${HMG_ULTRALYTICS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hmg/venvs/ultralytics}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0 YOLO_CONFIG_DIR="$work/yolo" MPLCONFIGDIR="$work/mpl"
