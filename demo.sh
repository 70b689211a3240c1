#!/bin/bash
# Build kyso and run the demo: a virtual PIV token (kyso-vcard) in a private
# pcscd; kyso's PKCS#11 module lists it and signs with it, OpenSSL verifies.
# Debian 12, as root (it installs the build packages and starts its own
# pcscd in a private mount namespace; the system's pcscd is not touched).
set -euo pipefail
cd "$(dirname "$0")"

tests/install-deps.sh demo
if [ ! -f build/build.ninja ]; then
	meson setup build
fi
ninja -C build
exec /usr/bin/python3 tests/demo.py
