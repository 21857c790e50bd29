#!/usr/bin/env bash
# Installs what building stagecraft needs beyond the Rust toolchain, gcc, make and Python 3:
# cmake (pingora's libz-ng-sys builds zlib-ng with it), the `openssl` command the JWT tests and
# the authorizer bench make RSA keys with (ring cannot generate them), and `redis-server`, which
# the shared usage store's tests start on ephemeral ports (Debian's package; none is left
# running), and Debian's `chromium` with `chromium-driver`, which the console's tests drive
# headless through WebDriver. Idempotent; sourced by the other scripts.
set -euo pipefail

# apt_install PACKAGE: with root or password-less sudo; false when neither is there.
apt_install() {
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    return 1
  fi
}

if ! command -v cmake >/dev/null 2>&1; then
  echo "setup: cmake is missing; installing it" >&2
  if ! apt_install cmake; then
    # No root: PyPI's cmake wheel ships the binary.
    python3 -m pip install --user --quiet cmake
    export PATH="$HOME/.local/bin:$PATH"
  fi
fi
cmake --version | head -1 >&2
if ! command -v openssl >/dev/null 2>&1; then
  echo "setup: openssl is missing; installing it" >&2
  apt_install openssl || echo "setup: cannot install openssl without root; the JWT tests need it" >&2
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "setup: redis-server is missing; installing it" >&2
  apt_install redis-server || echo "setup: cannot install redis-server without root; the shared usage store's tests need it" >&2
  # Debian's package may start a server on 6379 where there is an init system: the tests start
  # their own, and the machine is left as it was.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi
if ! command -v chromedriver >/dev/null 2>&1; then
  echo "setup: chromium and chromium-driver are missing; installing them" >&2
  apt_install chromium || echo "setup: cannot install chromium without root; the console's browser tests need it" >&2
  apt_install chromium-driver || echo "setup: cannot install chromium-driver without root; the console's browser tests need it" >&2
fi
