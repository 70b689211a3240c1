#!/bin/sh
# Install, from Debian 12's archive, what kyso needs to build ("build"), to
# run the demo ("demo"), or to run every test ("test"). Run as root; does
# nothing when everything is already there.
set -eu

build="meson ninja-build pkg-config gcc libc6-dev libpcsclite-dev libp11-kit-dev libssl-dev gettext"
demo="$build libcmocka-dev pcscd vsmartcard-vpcd opensc openssl python3"
test="$demo libcmocka-dev opensc-pkcs11 python3-pykcs11 clang libclang-rt-14-dev
      libengine-pkcs11-openssl libp11-dev libnss3-tools gnutls-bin p11-kit util-linux
      valgrind openssh-client openssh-server
      chromium firefox-esr xvfb xauth xdotool
      libreoffice-writer-nogui python3-uno libreoffice-script-provider-python poppler-utils"

case "${1:-test}" in
build) want=$build ;;
demo) want=$demo ;;
test) want=$test ;;
*) echo "usage: $0 build|demo|test" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "kyso: these Debian packages are missing:$missing" >&2
	echo "kyso: run this as root, or install them with apt-get." >&2
	exit 1
fi
echo "kyso: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
