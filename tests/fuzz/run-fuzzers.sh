#!/bin/sh
# Run kyso's libFuzzer harnesses for a while each.
#
#   tests/fuzz/run-fuzzers.sh [SECONDS] [HARNESS...]
#
# SECONDS   how long each harness runs (default 30)
# HARNESS   tlv, apdu, padding, cache, piv, piv_crypto, piv_write, espk,
#           epass2003_sm, pkcs15, epass2003, module
#           (default: all of them; tests/fuzz/README.md says what each covers)
#
# Builds with clang, libFuzzer, ASan and UBSan in its own build folder
# ($KYSO_FUZZ_BUILD, default build-fuzz/ at the top of the source tree), then
# runs each harness starting from tests/fuzz/corpus/NAME. The committed seeds
# are only read: what libFuzzer finds goes to $KYSO_FUZZ_WORK (default
# build-fuzz/work/NAME/), a crash to build-fuzz/work/crash-NAME-*.
# A run that takes longer than 10 s on one input is a finding too (a hang).
# Reproduce a crash with: build-fuzz/tests/fuzz/fuzz_NAME_libfuzzer FILE
# (KYSO_FUZZ_VERBOSE=1 and KYSO_DEBUG=1 show the steps and the APDUs).
# Needs: clang, libclang-rt-14-dev (Debian 12).
#
# Exit status: 0 when every harness ran clean, 1 on a finding, 2 on misuse.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-30}
[ $# -gt 0 ] && shift
harnesses=${*:-"tlv apdu padding cache piv piv_crypto piv_write espk epass2003_sm pkcs15 epass2003 module"}
build=${KYSO_FUZZ_BUILD:-$src/build-fuzz}
work=${KYSO_FUZZ_WORK:-$build/work}

case $seconds in
	''|*[!0-9]*) echo "usage: $0 [SECONDS] [HARNESS...]" >&2; exit 2 ;;
esac

# The largest input each harness is given (as in tests/fuzz/meson.build):
# a whole card session needs a few KB.
max_len() {
	case $1 in
		padding) echo 1024 ;;
		epass2003_sm) echo 2048 ;;
		piv|module|epass2003) echo 8192 ;;
		*) echo 4096 ;;
	esac
}

if [ ! -f "$build/build.ninja" ]; then
	# b_lundef=false: clang's sanitizer runtimes are linked into
	# executables only, so shared objects keep undefined __asan symbols.
	CC=clang meson setup "$build" "$src" \
		-Dfuzzing=true \
		-Db_sanitize=address,undefined \
		-Db_lundef=false \
		-Dbuildtype=debugoptimized
fi
targets=
for h in $harnesses; do
	targets="$targets tests/fuzz/fuzz_${h}_libfuzzer"
done
# shellcheck disable=SC2086 # one word per target
ninja -C "$build" $targets

status=0
for h in $harnesses; do
	mkdir -p "$work/$h"
	echo "== fuzz_$h: $seconds s"
	if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$build/tests/fuzz/fuzz_${h}_libfuzzer" \
		-max_total_time="$seconds" \
		-max_len="$(max_len "$h")" \
		-timeout=10 \
		-print_final_stats=1 \
		-artifact_prefix="$work/crash-$h-" \
		"$work/$h" "$src/tests/fuzz/corpus/$h"; then
		echo "== fuzz_$h: FINDING (see $work/crash-$h-*)" >&2
		status=1
	fi
done
exit $status
