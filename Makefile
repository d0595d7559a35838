# ldapsync: build, test and benchmark entry points. CI runs `make test` (.ci/run).
#
#   make deps       install the Debian packages the build and the tests need (as root)
#   make build      debug build
#   make test       deps, then every test (integration tests start private slapd servers)
#   make test-asan  the C-interop tests under AddressSanitizer
#   make soak       the model-based soak test with 1,000 rounds (SOAK_ROUNDS=N, SOAK_SEED=S, SOAK_SYNCPROV=none|present|sessionlog to change)
#   make bench      release build, FetchBench (paged fetch), SyncBench (scale report: docs/performance.md; BENCH_SIZES=10k,100k,1M)
#   make demo       deps, build, then sync a throwaway slapd into SQLite (demo-out/)
#   make release    the binary to install (.build/release/ldapsync): optimized, with the Swift runtime and Foundation linked in
#   make release-check  make release, then the demo's sync with that binary (CI runs it after make test)
#   make fuzz       libFuzzer targets, each for FUZZ_SECONDS (default 120; docs/reliability.md)
#   make clean      remove the build folders

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# Each recipe runs in one shell, so a trap set in it covers the whole recipe.
.ONESHELL:
.DEFAULT_GOAL := build

# Use the swift on PATH; otherwise the toolchain this project's machines have at /opt/swift.
SWIFT_TOOLCHAIN_BIN ?= /opt/swift/usr/bin
ifeq ($(shell command -v swift 2>/dev/null),)
export PATH := $(SWIFT_TOOLCHAIN_BIN):$(PATH)
endif
SWIFT ?= swift

# libldap-dev and liblmdb-dev: the CLDAP and CLMDB system-library targets (pkg-config).
# slapd, ldap-utils and openssl: the private test servers and their TLS certificates.
# sqlite3: make demo shows the app tables with the sqlite3 shell.
# systemd (systemd-analyze) and logrotate: CronFilesTests check the files of cron/ with them.
# python3-prometheus-client: the metrics test parses --metrics output with /usr/bin/python3.
# samba … krb5-user: the private Samba 4 AD domain controllers of the AD tests (SambaSupport;
# samba-tool provisions, samba serves; ldb-tools for inspecting sam.ldb). Their services
# must not start either: the same policy-rc.d covers them.
# postgresql and libpq-dev: the CLibPQ system-library target (pkg-config libpq) and the private
# PostgreSQL 15 servers of the PostgreSQL app-store tests (PostgresSupport runs initdb and
# postgres as the postgres user in a temporary directory). The package's own "15 main"
# cluster must not start: the same policy-rc.d covers it (it is created, stopped, and unused).
# Where invoke-rc.d looks for a policy (a variable only so the rule can be tried elsewhere).
POLICY_RC_D ?= /usr/sbin/policy-rc.d
DEB_PACKAGES := libldap-dev liblmdb-dev slapd ldap-utils openssl pkg-config libsqlite3-dev ca-certificates sqlite3 \
                systemd logrotate python3-prometheus-client \
                samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind python3-samba \
                ldb-tools krb5-user \
                postgresql libpq-dev python3-matplotlib
# python3-matplotlib: make bench draws docs/performance/scale.png with /usr/bin/python3 (bench/plot.py).

.PHONY: deps toolchain build release release-check test test-asan bench demo fuzz soak clean

deps:
	@command -v dpkg-query >/dev/null || { echo "make deps: needs a Debian-based system (dpkg-query not found)" >&2; exit 1; }
	missing=()
	for package in $(DEB_PACKAGES); do
	  status=$$(dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null || true)
	  [[ "$$status" == "install ok installed" ]] || missing+=("$$package")
	done
	if (( $${#missing[@]} == 0 )); then echo "make deps: all packages present"; exit 0; fi
	if (( $$(id -u) != 0 )); then
	  echo "make deps: missing packages: $${missing[*]}; run 'make deps' as root or: sudo apt-get install $${missing[*]}" >&2
	  exit 1
	fi
	# The slapd, samba and postgresql packages must not start system services: a policy-rc.d that answers
	# 101 ("action forbidden") stops invoke-rc.d. Ours only if there is none, and it
	# goes away however the install ends.
	if [[ ! -e $(POLICY_RC_D) ]]; then
	  trap 'rm -f $(POLICY_RC_D)' EXIT
	  printf '#!/bin/sh\nexit 101\n' > $(POLICY_RC_D)
	  chmod 0755 $(POLICY_RC_D)
	fi
	echo "make deps: installing $${missing[*]}"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$${missing[@]}"

toolchain:
	@command -v $(SWIFT) >/dev/null || { echo "no Swift toolchain: '$(SWIFT)' is not on PATH nor in $(SWIFT_TOOLCHAIN_BIN)" >&2; exit 1; }

build: toolchain
	$(SWIFT) build

# The binary cron/README.md installs: it needs the system's libldap, liblmdb, libsqlite3
# and libpq at run time, not the Swift toolchain (`--static-swift-stdlib`).
release: deps toolchain
	$(SWIFT) build -c release --static-swift-stdlib --product ldapsync
	echo "built .build/release/ldapsync"

# CI's check of that binary: no Swift shared library needed, and the demo's real sync
# (a throwaway slapd into SQLite) runs with it.
release-check: release
	if ldd .build/release/ldapsync | grep -E 'libswift|libFoundation|libdispatch'; then
	  echo "release-check: .build/release/ldapsync needs the Swift shared libraries above" >&2; exit 1
	fi
	$(SWIFT) run Demo .build/release/ldapsync

# Swift Testing already runs tests in parallel inside one process (each test that
# needs a directory starts its own slapd), so no --parallel: that flag splits XCTest
# tests over several processes and interleaves their output.
test: deps toolchain
	$(SWIFT) test

# --disable-xctest: the tests are Swift Testing tests; XCTest's own runner, run for
# nothing, leaves objects that LeakSanitizer reports and that would fail every run.
# The one suppression: Foundation's Process.run() forms a weak reference to the
# spawning thread's RunLoop, whose 32-byte side table LeakSanitizer reports once per
# thread (not per process) at exit. It matches allocations made inside Process.run()
# only (a leading `$` would be an anchor in a suppression pattern, hence none).
LSAN_SUPPRESSIONS := .build-asan/lsan-suppressions.txt
test-asan: deps toolchain
	mkdir -p .build-asan
	printf '%s\n' 'leak:s10Foundation7ProcessC3runyyKF' > $(LSAN_SUPPRESSIONS)
	LSAN_OPTIONS="suppressions=$(CURDIR)/$(LSAN_SUPPRESSIONS)$${LSAN_OPTIONS:+:$$LSAN_OPTIONS}" \
	  $(SWIFT) test --sanitize=address --scratch-path .build-asan --disable-xctest --filter 'LDAPClientTests|StateStoreTests'

# The model-based soak (Tests/CLITests/SoakTests.swift, docs/reliability-soak.md): `make test`
# runs it with 50 rounds; this runs 1,000. A failure prints the seed: SOAK_SEED=S replays it.
SOAK_ROUNDS ?= 1000
soak: deps toolchain
	LDAPSYNC_SOAK_ROUNDS=$(SOAK_ROUNDS) $(if $(SOAK_SEED),LDAPSYNC_SOAK_SEED=$(SOAK_SEED)) \
	  $(if $(SOAK_SYNCPROV),LDAPSYNC_SOAK_SYNCPROV=$(SOAK_SYNCPROV)) \
	  $(SWIFT) test --filter SoakTests

# Release builds of ldapsync, FetchBench and SyncBench, then both
# benchmarks; SyncBench runs the release ldapsync as cron would (docs/benchmarks.md).
# BENCH_SIZES: the directory sizes of the scale report (people; groups are a hundredth);
# the 1M size takes about ten minutes of the whole, leave it out with BENCH_SIZES=10k,100k.
# BENCH_STORES: auto (SQLite, and PostgreSQL when a private server can start), sqlite, postgres.
# SyncBench writes docs/performance/table.md, scale.csv and rss-*.csv; plot.py draws
# scale.png and puts the table into docs/performance.md between its bench markers.
# BENCH_RESULTS and BENCH_DOC: where the table, CSVs and plots go, and the document that
# gets the table (elsewhere for a trial run).
BENCH_SIZES ?= 10k,100k,1M
BENCH_STORES ?= auto
# Rounds of the full runs (median), below 1M and at 1M: single rounds of one build vary
# by 20% here (at 10k, a 20 ms difference moves the ratio by 0.2x).
BENCH_ROUNDS ?= 5
BENCH_LARGE_ROUNDS ?= 5
BENCH_RESULTS ?= docs/performance
BENCH_DOC ?= docs/performance.md
bench: deps toolchain
	start=$$(date +%s)
	# Product by product: a release build of everything also builds FuzzRecords, whose
	# @testable import needs -enable-testing (make fuzz passes it).
	# Linked with the toolchain's shared Swift runtime, as in every earlier report (docs/
	# performance.md, ninth round: `make release`'s static binary starts 6 ms sooner and
	# peaks 6 MB lower at every size).
	for product in ldapsync FetchBench SyncBench; do
	  $(SWIFT) build -c release --scratch-path .build-release --product $$product
	done
	$(SWIFT) run -c release --scratch-path .build-release --skip-build FetchBench
	$(SWIFT) run -c release --scratch-path .build-release --skip-build SyncBench .build-release/release/ldapsync \
	  --sizes $(BENCH_SIZES) --stores $(BENCH_STORES) --rounds $(BENCH_ROUNDS) --large-rounds $(BENCH_LARGE_ROUNDS) --results $(BENCH_RESULTS)
	/usr/bin/python3 bench/plot.py $(BENCH_RESULTS) $(BENCH_DOC)
	echo "make bench: $$(( $$(date +%s) - start )) s in all"

# The Demo target (Sources/Demo) starts a private slapd and runs the ldapsync built here.
demo: deps toolchain
	$(SWIFT) build
	$(SWIFT) run --skip-build Demo .build/debug/ldapsync

# libFuzzer (Sources/Fuzz*, docs/reliability.md). Both sanitize options are needed:
# --sanitize=fuzzer alone, two separate options, or -Xswiftc -sanitize=fuzzer,address
# alone build binaries without coverage that find nothing. -DLIBFUZZER gives the
# targets libFuzzer's entry point instead of their replay main; -enable-testing lets
# FuzzRecords reach SyncRunner's internal record codecs. Each target starts from the
# seeds in Tests/FuzzCorpus/<target> and grows its corpus in .build-fuzz/corpus; a
# finding is written to .build-fuzz/findings/<target>/ and fails the recipe after every
# target has run. SWIFT_BACKTRACE=enable=no: Swift's crash handler otherwise causes
# false AddressSanitizer reports.
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := FuzzDirectoryModel FuzzJSON FuzzConfig FuzzRecords
fuzz: deps toolchain
	for target in $(FUZZ_TARGETS); do
	  $(SWIFT) build -c release --scratch-path .build-fuzz --product "$$target" \
	    --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DLIBFUZZER -Xswiftc -enable-testing
	done
	failed=()
	for target in $(FUZZ_TARGETS); do
	  mkdir -p ".build-fuzz/corpus/$$target" ".build-fuzz/findings/$$target"
	  echo "make fuzz: $$target for $(FUZZ_SECONDS)s"
	  SWIFT_BACKTRACE=enable=no ".build-fuzz/release/$$target" -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -timeout=10 -rss_limit_mb=2048 -artifact_prefix=".build-fuzz/findings/$$target/" \
	    ".build-fuzz/corpus/$$target" "Tests/FuzzCorpus/$$target" || failed+=("$$target")
	done
	if (( $${#failed[@]} > 0 )); then echo "make fuzz: findings in $${failed[*]} (.build-fuzz/findings/)" >&2; exit 1; fi

clean:
	rm -rf .build .build-asan .build-release .build-fuzz
