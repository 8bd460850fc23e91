#!/usr/bin/env bash
# Check the system libraries that pip cannot install: an OpenGL library MuJoCo can render with headless.
set -u
gl=${MUJOCO_GL:-egl}
case "$gl" in
  egl)    lib=libEGL.so.1;    pkgs="libegl1 libegl-mesa0 libgl1-mesa-dri" ;;
  osmesa) lib=libOSMesa.so;   pkgs="libosmesa6" ;;
  glfw)   lib=libglfw.so;     pkgs="libglfw3" ;;
  *) echo "MUJOCO_GL=$gl is not one of egl, osmesa, glfw" >&2; exit 1 ;;
esac
if ! ldconfig -p 2>/dev/null | grep -q "$lib"; then
  echo "MuJoCo renders headless with MUJOCO_GL=$gl, which needs $lib (not found)." >&2
  echo "Install it with:  sudo apt-get install -y $pkgs   (or set MUJOCO_GL=osmesa and install libosmesa6)" >&2
  exit 1
fi
