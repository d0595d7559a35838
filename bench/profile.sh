#!/bin/bash
# Where time and memory of a full `ldapsync run` go (docs/performance.md, "Profile").
#
#   bench/profile.sh [CALLGRIND_SIZE] [MASSIF_SIZE]     (defaults 20k and 100k; as root)
#
# Runs SyncBench with ldapsync under valgrind: callgrind (instructions, the same count
# on every run) for each run at CALLGRIND_SIZE people, massif (the malloc heap over time)
# for the full run at MASSIF_SIZE. valgrind 3.19 cannot read the DWARF 5 of Swift 6 binaries, so it runs a
# copy with the debug sections stripped (the symbol table stays: functions, no lines).
# Writes .build-release/profile/callgrind-RUN.out with demangled summaries
# callgrind-RUN-{inclusive,self}.txt, and massif.out with massif.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
callgrind_size=${1:-20k}
massif_size=${2:-100k}
out=.build-release/profile
mkdir -p "$out"
demangle=$(command -v swift-demangle || echo /opt/swift/usr/bin/swift-demangle)
cp .build-release/release/ldapsync "$out/ldapsync"
strip --strip-debug "$out/ldapsync"
bench=(.build-release/release/SyncBench "$out/ldapsync" --rounds 1 --large-rounds 1 --no-writeback --stores sqlite)

# callgrind: every run of the scale part (full, first incremental, then every-run and
# full-only with 100 changes and with none), one profile each, in that order.
echo "== callgrind, $callgrind_size people =="
rm -f "$out"/callgrind.*
"${bench[@]}" --sizes "$callgrind_size" --wrap "/usr/bin/valgrind,--tool=callgrind,--callgrind-out-file=$out/callgrind.%p.out"
names=(full first-incremental every-run-100 every-run-none full-only-100 full-only-none)
i=0
for file in $(ls -tr "$out"/callgrind.*.out); do
  name=${names[$i]:-run$i}
  mv "$file" "$out/callgrind-$name.out"
  callgrind_annotate --inclusive=yes "$out/callgrind-$name.out" | "$demangle" --simplified > "$out/callgrind-$name-inclusive.txt"
  callgrind_annotate "$out/callgrind-$name.out" | "$demangle" --simplified > "$out/callgrind-$name-self.txt"
  i=$((i + 1))
done
head -40 "$out/callgrind-full-self.txt"

echo "== massif, $massif_size people =="
rm -f "$out/massif.out"
"${bench[@]}" --only-full --sizes "$massif_size" --wrap "/usr/bin/valgrind,--tool=massif,--depth=40,--threshold=0.5,--massif-out-file=$out/massif.out"
ms_print --threshold=2 "$out/massif.out" | "$demangle" --simplified > "$out/massif.txt"
head -40 "$out/massif.txt"
echo "profile.sh: summaries in $out"
