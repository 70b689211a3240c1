#!/bin/bash
# Install what the tests need (Debian 12, as root), build kyso twice (build/:
# the plain build; build-san/: AddressSanitizer + UndefinedBehaviorSanitizer)
# and run every test against the sanitizer build. Tests start their own
# pcscd and virtual cards; nothing on the machine is touched.
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

status=0
# The plain build: what is installed, and what only runs without sanitizers
# (p11-kit itself deadlocks under an ASan preload).
meson test -C build --print-errorlogs --suite packaging || status=$?
meson test -C build-san --print-errorlogs --num-processes 2 "$@" || status=$?

# One closing line that any reader (and CI) understands.
/usr/bin/python3 - build/meson-logs/testlog.json build-san/meson-logs/testlog.json <<'PY'
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
