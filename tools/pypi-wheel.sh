# Shared by tools/provision-ort.sh and tools/provision-openvino.sh (sourced): fetching one
# wheel from PyPI with pip, for this machine or (PYPI_ARCH=aarch64) for an arm64 one.

# download_wheel PYTHON PACKAGE==VERSION DEST: `pip download --no-deps`, nothing installed.
download_wheel() {
  local plats=() i
  case "${PYPI_ARCH:-}" in
    "") ;;
    aarch64)
      plats=(--platform manylinux2014_aarch64)
      for i in $(seq 17 40); do plats+=(--platform "manylinux_2_${i}_aarch64"); done
      plats+=(--python-version 3.11 --implementation cp) ;;
    *) echo "PYPI_ARCH must be empty or aarch64 (got '$PYPI_ARCH')" >&2; return 2 ;;
  esac
  "$1" -m pip download --quiet --no-deps --only-binary=:all: "${plats[@]}" "$2" -d "$3"
}

# check_wheel_arch WHEEL: refuses a wheel for another architecture than PYPI_ARCH asked.
check_wheel_arch() {
  if [[ -n "${PYPI_ARCH:-}" && "$(basename "$1")" != *"$PYPI_ARCH"* ]]; then
    echo "not an $PYPI_ARCH wheel: $1" >&2
    return 1
  fi
}
