#!/usr/bin/env bash
# Create or update the ROS 2 venv used by the ROS bridge and its tests: `tools/setup_ros.sh [VENV]`
# (default .venv-ros; `make ros` runs this). Real rclpy + Fast DDS from the ros-jazzy-* wheels on PyPI,
# rosbridge-server-rs, roslibpy and our client package (editable). Its own venv on purpose: the wheels'
# bootstrapper (a .pth file) re-executes every interpreter of the venv it is installed in.
# Idempotent; a second run only lets the installer confirm everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-ros}

if [ ! -x "$VENV/bin/python" ]; then
  python=$(tools/find_python312.sh) || exit 1
  echo "creating $VENV with $python"
  "$python" -m venv "$VENV"
fi
echo '*' > "$VENV/.gitignore"  # keep the venv out of git without touching the project's .gitignore

# uv's pip interface when the Makefile put uv into the main venv (MOTIONVLA_UV), else pip; .pyc files written at
# install time as pip writes them (PYTHONDONTWRITEBYTECODE=1 would otherwise recompile in every process).
if [ -n "${MOTIONVLA_UV:-}" ] && [ -x "$MOTIONVLA_UV" ]; then
  install=("$MOTIONVLA_UV" pip install --quiet --compile-bytecode --python "$VENV/bin/python")
else
  install=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
fi
"${install[@]}" \
  "ros-jazzy-rclpy[fastrtps]" ros-jazzy-std-msgs ros-jazzy-sensor-msgs ros-jazzy-trajectory-msgs \
  ros-jazzy-geometry-msgs rosbridge-server-rs "roslibpy>=1.7" pyyaml pillow \
  -e "packages/motionvla-client[rosbridge]"

# rosbridge-server-rs quirks (see tools/ros_rosbridge.sh): the wheel drops the binary's exec bit, and the
# binary links librmw_implementation.so, which these wheels do not ship: point it at Fast DDS's rmw.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for distro in jazzy humble; do
  [ -f "$site/rosbridge_server_rs/rosbridge_server_rs_$distro" ] && chmod +x "$site/rosbridge_server_rs/rosbridge_server_rs_$distro"
done
mkdir -p "$VENV/lib/rmw-shim"
ln -sfn "$(cd "$VENV/lib" && pwd)/librmw_fastrtps_cpp.so" "$VENV/lib/rmw-shim/librmw_implementation.so"

"$VENV/bin/python" -c 'import rclpy, std_msgs.msg, sensor_msgs.msg, trajectory_msgs.msg, geometry_msgs.msg, roslibpy, motionvla_client.ros.cli' \
  || { echo "the ROS venv $VENV is incomplete (imports failed above)" >&2; exit 1; }
tools/ros_rosbridge.sh --version >/dev/null || { echo "rosbridge-server-rs does not start (see above)" >&2; exit 1; }
echo "ROS venv ready: $VENV"
