// swift-tools-version:6.1
import PackageDescription

// Dependencies point one way (see docs/design.md):
//   ldapsync (commands) → LDAPClient, StateStore → DirectoryModel
// CLDAP, CLMDB and CLibPQ are imported only by LDAPClient, StateStore and AppStore respectively.
let package = Package(
    name: "ldapsync",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ldapsync", targets: ["ldapsync"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLDAP",
            pkgConfig: "ldap",
            providers: [.apt(["libldap-dev"])]
        ),
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        // libpq, imported only by the PostgreSQL app store (Sources/AppStore/Postgres*.swift).
        // Linux calls Swift's Glibc module leaves out (copy_file_range).
        .systemLibrary(name: "CLinux"),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "DirectoryModel"),
        .target(
            name: "LDAPClient",
            dependencies: [
                "CLDAP", "DirectoryModel",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "StateStore", dependencies: ["CLMDB", "DirectoryModel"]),
        // YAML → validated, versioned configuration (SPEC §3).
        .target(name: "SyncConfig", dependencies: ["DirectoryModel", .product(name: "Yams", package: "Yams")]),
        // The application's user store: SQLite (embedded default) through GRDB, PostgreSQL
        // (the server option) through libpq.
        .target(name: "AppStore", dependencies: [
            "DirectoryModel", "CLibPQ", .product(name: "GRDB", package: "GRDB.swift"),
            // SQLite's C API, for binding values on GRDB's prepared statements.
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        // Pure Swift: diff, merge, group rules, plan. No I/O, no C modules.
        .target(name: "SyncEngine", dependencies: ["DirectoryModel"]),
        // Wires configuration, LDAP, state store, app store and engine into a run.
        .target(
            name: "SyncRunner",
            dependencies: [
                "SyncEngine", "SyncConfig", "LDAPClient", "StateStore", "AppStore", "DirectoryModel", "CLinux",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Starts private slapd servers on loopback for tests and benchmarks.
        .target(name: "SlapdSupport"),
        // Starts private Samba 4 AD domain controllers on loopback for tests (issue #6).
        .target(name: "SambaSupport", dependencies: ["SlapdSupport"]),
        // Starts a private PostgreSQL 15 server on loopback for tests (issue #8).
        .target(name: "PostgresSupport", dependencies: ["SlapdSupport"]),
        .executableTarget(
            name: "ldapsync",
            dependencies: [
                "SyncRunner", "SyncConfig", "AppStore", "LDAPClient", "StateStore", "DirectoryModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Micro-benchmark: paged fetch vs ldapsearch (make bench). Not a test.
        .executableTarget(
            name: "FetchBench",
            dependencies: ["LDAPClient", "SlapdSupport", "DirectoryModel"]
        ),
        .executableTarget(name: "Demo", dependencies: ["SlapdSupport", "LDAPClient", "DirectoryModel"]),
        .executableTarget(name: "SyncBench", dependencies: ["SlapdSupport", "LDAPClient", "DirectoryModel"]),
        // libFuzzer targets (make fuzz, docs/reliability.md). Built with -DLIBFUZZER and
        // -sanitize=fuzzer they are fuzzers; in a plain build they replay the input files
        // (or corpus directories) given as arguments.
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzDirectoryModel", dependencies: ["DirectoryModel", "FuzzSupport"]),
        .executableTarget(name: "FuzzConfig", dependencies: ["SyncConfig", "FuzzSupport"]),
        .executableTarget(name: "FuzzJSON", dependencies: ["SyncEngine", "DirectoryModel", "FuzzSupport"]),
        .executableTarget(name: "FuzzRecords", dependencies: ["SyncRunner", "StateStore", "DirectoryModel", "FuzzSupport"]),
        .testTarget(name: "DirectoryModelTests", dependencies: ["DirectoryModel"]),
        .testTarget(name: "LDAPClientTests", dependencies: ["LDAPClient", "SlapdSupport", "SambaSupport", "DirectoryModel"]),
        .testTarget(name: "StateStoreTests", dependencies: ["StateStore", "DirectoryModel"]),
        .testTarget(name: "SyncConfigTests", dependencies: ["SyncConfig", "DirectoryModel"]),
        .testTarget(name: "AppStoreTests", dependencies: ["AppStore", "DirectoryModel", "PostgresSupport"]),
        .testTarget(name: "SyncEngineTests", dependencies: ["SyncEngine", "DirectoryModel"]),
        .testTarget(
            name: "SyncRunnerTests",
            dependencies: ["SyncRunner", "SyncConfig", "AppStore", "StateStore", "LDAPClient", "SlapdSupport", "SambaSupport", "PostgresSupport", "DirectoryModel"]
        ),
        .testTarget(name: "CLITests", dependencies: ["ldapsync", "SlapdSupport", "SambaSupport", "LDAPClient", "DirectoryModel"]),
    ],
    swiftLanguageModes: [.v6]
)
