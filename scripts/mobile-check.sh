#!/usr/bin/env bash
# make mobile-check: the gomobile facade (node/mobile) binds for Java and
# Objective-C with no skipped symbol, the generated Java and a sample app
# driver compile (javac), and a main importing node/mobile links for
# android/arm64 with the flags docs/mobile.md gives. Needs a JDK (javac);
# no Android SDK/NDK or Xcode: the link is pure Go (CGO_ENABLED=0), which
# is what catches link-time breakage such as wlynxg/anet's linkname.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "mobile-check: gobind java+objc"
log="$out/gobind.log"
if ! $GO tool gobind -lang=go,java,objc -javapkg=org.imigee -prefix=IMG -outdir="$out/bind" ./node/mobile >"$log" 2>&1; then
	cat "$log"; exit 1
fi
# gobind skips what it cannot bind with a comment ("skipped field ...",
# "skipped method ... with unsupported parameter ...") or a warning.
if grep -rniE 'skipped|unsupported' "$log" "$out/bind" >"$out/skipped"; then
	echo "mobile-check: gobind skipped symbols:"; cat "$out/skipped"; exit 1
fi

echo "mobile-check: javac generated Java + sample"
command -v javac >/dev/null || { echo "mobile-check: javac not found (install a JDK, e.g. default-jdk-headless)"; exit 1; }
mkdir -p "$out/classes"
find "$out/bind/java" node/mobile/testdata/java -name '*.java' >"$out/sources"
javac -Xlint:all,-serial -Werror -d "$out/classes" @"$out/sources"

echo "mobile-check: android/arm64 link"
GOOS=android GOARCH=arm64 CGO_ENABLED=0 $GO build -ldflags=-checklinkname=0 -o "$out/linkcheck" ./node/mobile/internal/linkcheck
echo "mobile-check: ok"
