#!/bin/bash
# Install what the tests need (Debian 12, as root), build kyso three times
# (build/: the plain build; build-san/: AddressSanitizer +
# UndefinedBehaviorSanitizer; build-tsan/: ThreadSanitizer) and run every
# test: all suites against the sanitizer build, the threads suite under
# TSan, valgrind's memcheck and the packaging checks on the plain build.
# Tests start their own pcscd and virtual cards; nothing on the machine is
# touched.
#
#   ./test.sh                 everything
#   ./test.sh --suite unit    only one meson suite (unit, fuzz, vcard, integration, piv...)
set -euo pipefail
cd "$(dirname "$0")"

tests/install-deps.sh test

if [ ! -f build/build.ninja ]; then
	meson setup build
fi
ninja -C build

if [ ! -f build-san/build.ninja ]; then
	meson setup build-san -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug
fi
ninja -C build-san

# ThreadSanitizer cannot be combined with ASan: its own build, for the
# threads suite.
if [ ! -f build-tsan/build.ninja ]; then
	meson setup build-tsan -Db_sanitize=thread -Dbuildtype=debug
fi
ninja -C build-tsan

status=0
if [ $# -eq 0 ]; then
	# The plain build: what is installed, what only runs without
	# sanitizers (p11-kit and gnutls-cli deadlock under an ASan preload:
	# those parts of the clients suite skip there), and valgrind's memcheck
	# (which cannot run sanitized programs).
	meson test -C build --print-errorlogs --suite packaging --suite memcheck \
		--suite clients || status=$?
	meson test -C build-tsan --print-errorlogs --suite threads || status=$?
fi
meson test -C build-san --print-errorlogs --num-processes 2 "$@" || status=$?

# One closing line that any reader (and CI) understands.
logs="build-san/meson-logs/testlog.json"
[ $# -eq 0 ] && logs="build/meson-logs/testlog.json build-tsan/meson-logs/testlog.json $logs"
# shellcheck disable=SC2086
/usr/bin/python3 - $logs <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for line in (l for name in sys.argv[1:] for l in open(name)):
    r = json.loads(line).get("result", "")
    if r in ("OK", "EXPECTEDFAIL"):
        counts["OK"] += 1
    elif r == "SKIP":
        counts["SKIP"] += 1
    else:
        counts["FAIL"] += 1
print(f"{counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
exit $status
