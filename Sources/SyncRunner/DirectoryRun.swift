import AppStore
import DirectoryModel
import LDAPClient
import Logging
import SyncConfig
import SyncEngine
#if canImport(Glibc)
import Glibc
#endif

/// One directory's part of a run.
final class DirectoryRun {
    let configuration: Configuration
    let directory: DirectoryConfiguration
    /// nil only for a dry run on a machine with no state directory yet.
    let state: SyncState?
    let app: any AppStore
    let options: RunOptions
    var logger: Logger
    let output: (String) -> Void
    let isInterrupted: () -> Bool
    /// Reports the long phases (the executable draws a progress line on a terminal).
    let progress: ProgressHandler?

    private var summary: DirectorySummary
    /// When ``execute()`` started (the duration of a run that stops with an error).
    private var startInstant = ContinuousClock.now
    /// The app changes staged so far: the total of the "applying to the app" phase.
    private var stagedAppChanges = 0
    private var policy = SyncPolicy(attributes: [])
    private var memberships = MembershipIndex(policy: .none, groups: [:])
    /// Runs with a complete member index (``prepareMemberships(for:)``).
    private var indexedGroups: IndexedGroups?
    /// The thread staging the last batch of changed groups' members (``readGroups``),
    /// until ``finishGroupStaging()``.
    private var groupStaging: BackgroundWork<SyncState>?
    /// Hands the last batch of changed groups' members to ``groupStaging``: made ready by
    /// ``readGroups``, run once the user search has been sent (or by ``finishGroupStaging()``).
    private var lastGroupBatch: (() throws -> Void)?
    /// The server's root DSE, read once a run (``rootDSE(_:)``).
    private var serverRootDSE: RootDSE?
    private var pattern: TimestampPattern = .openldap
    /// The newest server timestamp seen in this run.
    private var newestSeen: Timestamp?
    /// An entry's timestamp could not be parsed: the cursor must not pass it.
    private var holdCursor = false
    /// App changes decided since the last flush; staged in LMDB batch by batch.
    private var appBatch: [AppChange] = []
    private var stagedAppBatches: UInt64 = 0
    /// A full run into an empty app store writes the app transaction while it reads
    /// (``EarlyAppApply``); nil once finished, failed or never started.
    private var earlyApply: EarlyAppApply?
    /// Whether this run started one: the store is then not called until the run's end,
    /// and the look-ups it would answer are answered as for the empty store it was.
    private var writesAppWhileReading = false
    /// Users that lose at least one managed membership (the maxGroupRemovals count).
    private var usersLosingMemberships = 0
    private var retryChanges: [[UInt8]: RetryRecord?] = [:]
    private var deactivationMarks: [String: Bool] = [:]
    private var retrySet: [[UInt8]: RetryRecord] = [:]
    /// Write-back values of a run that died before its commit: agreed only if LDAP holds
    /// them (``settleInDoubt``); these users are decided again in this run.
    private var inDoubt: [[UInt8]: InDoubtRecord] = [:]
    /// The cursor record as this run read it (for ``InflightRecord/cursorBefore``).
    private var cursorBytesAtStart: [UInt8]?
    /// The content-synchronization cookie this run's commit stores (RFC 4533; nil: none).
    private var contentSyncCookie: ContentSyncCookie?
    /// Whether the server takes content-synchronization refreshes (read once a run).
    private var contentSyncOffered: Bool?
    /// Ids read again by id (the retry set, in-doubt writes, affected members) that the
    /// scope no longer holds: gone, as a listing would find them.
    private var rereadMissing: [[UInt8]] = []
    /// Incremental runs with `app.findEdits: updated-at`: app rows updated since this
    /// time are compared with their snapshot; nil: every managed row is (a scan).
    private var appEditsBound: Timestamp?
    /// The app store held no user when this directory's run began: nobody (nor any
    /// membership) to look up while deciding, since the app is written only after every
    /// user is decided. A first run into an empty store skips those queries.
    private var appStartsEmpty = false
    /// Whether the directory had no snapshot users nor deactivation marks when the run
    /// began (a first run): deciding then looks none up.
    private var snapshotStartsEmpty = false
    /// Stored manual conflicts by user key, and the changes to them this run makes.
    private var storedConflicts: [String: [ConflictRecord]] = [:]
    private var conflictChanges: [[UInt8]: ConflictRecord?] = [:]
    /// Users decided in this run (fetched, re-read or vanished), by id, besides those in
    /// `claims` (``isDecided(_:)``): failed and vanished ones. Kept apart so that
    /// no set of every user duplicates the claims (SPEC §13: memory).
    private var decided: Set<Digest> = []
    /// Full runs: keys in scope that no decided entry claims (``isInScope(_:)``), to find
    /// managed app users never in the snapshot. A claimed key leaves it.
    private var keysInScope: Set<Digest> = []

    private func isDecided(_ id: Digest) -> Bool { claims.key(claimedBy: id) != nil || decided.contains(id) }
    private func isInScope(_ key: Digest) -> Bool { claims.id(claiming: key) != nil || keysInScope.contains(key) }
    /// Keys of entries in scope that lack the id attribute: their app users are kept as
    /// they are, never taken for vanished ones (the entry is still there).
    private var keysWithoutID: Set<String> = []
    /// App keys already decided as gone from the directory.
    private var vanishedKeys: Set<String> = []
    /// The entry each app key belongs to in this run, and each decided id's key: a key
    /// names one entry only (see `keyHolder`).
    private var claims = ClaimTable()
    private var stagedBatch: [([UInt8], UserSnapshot?)] = []
    /// Users staged since the heap was last trimmed, and since the mapped state pages
    /// were last released (``flushStaged()``).
    private var usersSinceRelease = 0
    private var usersSincePageRelease = 0
    /// The read connection (also the write connection when there is no `writeBind`).
    private var readConnection: LDAPConnection?
    /// Write-back operations decided in this run, sent after the app transaction.
    private var ldapWrites: [LDAPWrite] = []
    /// `plan --ldif`: the LDAP-side changes as an LDIF change file.
    private var ldif = ""
    /// The audit trail of every write (I8); nil in a dry run, which writes nothing.
    private var audit: AuditLog?
    let runID: String

    struct LDAPWrite {
        var id: [UInt8]
        var dn: String
        var key: String
        var changes: [LDAPAttributeChange]
        /// The snapshot before this run, and the one this run agrees on: when the write
        /// fails, the written attributes keep their previous agreed values, so the edit is
        /// merged again next run (I3).
        var previous: UserSnapshot?
        var agreed: UserSnapshot
    }

    init(configuration: Configuration, directory: DirectoryConfiguration, state: SyncState?, app: any AppStore,
         options: RunOptions, runID: String, logger: Logger, output: @escaping (String) -> Void, isInterrupted: @escaping () -> Bool,
         progress: ProgressHandler? = nil) {
        self.runID = runID
        self.configuration = configuration
        self.directory = directory
        self.state = state
        self.app = app
        self.options = options
        self.logger = logger
        self.logger[metadataKey: "sync.directory"] = "\(directory.name)"
        self.output = output
        self.isInterrupted = isInterrupted
        self.progress = progress
        self.summary = DirectorySummary(directory: directory.name, full: false)
    }

    /// What the run had done when it stopped with an error: for the report of a run that
    /// ends with exit 2–6 or 130. Nothing of it was committed.
    var partialSummary: DirectorySummary {
        var partial = summary
        partial.complete = false
        partial.durationSeconds = seconds(ContinuousClock.now - startInstant)
        return partial
    }

    func execute() throws(RunError) -> DirectorySummary {
        let started = wallClock()
        let clock = ContinuousClock()
        let start = clock.now
        startInstant = start
        do {
            try executeThrowing(started: started, clock: clock, start: start)
        } catch let error as RunError {
            throw error
        } catch let error as LDAPError {
            throw connectionOrFailure(error)
        } catch let error as StateCorruption {
            throw .stateStore(error.description)
        } catch {
            throw .stateStore(describeStateError(error))
        }
        summary.durationSeconds = seconds(clock.now - start)
        return summary
    }

    private func connectionOrFailure(_ error: LDAPError) -> RunError {
        .connection(directory: directory.name, url: directory.url, error)
    }

    private func executeThrowing(started: Timestamp, clock: ContinuousClock, start: ContinuousClock.Instant) throws {
        do {
            pattern = try TimestampPattern(directory.timestamp.pattern)
        } catch {
            throw RunError.configuration("directories.\(directory.name).timestamp.pattern: \(error)")
        }
        let connection = try DirectorySession.connect(directory, configurationFile: configuration.sourcePath, logger: logger)
        readConnection = connection
        let schema: Schema?
        do {
            schema = try connection.readSchema(rootDSE: rootDSE(connection))
        } catch {
            logger.warning("cannot read the server's schema; values compare exactly (case-sensitively)", metadata: ["error": "\(error)"])
            schema = nil
        }
        policy = try PolicyBuilder.policy(configuration, schema: schema)
        if directory.users.accountState != .off {
            policy.accountState = AccountStatePolicy(attribute: AccountStateMode.attribute, writesBack: directory.users.accountState == .both)
        }
        policy.explain = options.dryRun
        if !options.dryRun {
            do {
                audit = try AuditLog(path: configuration.audit.path)
            } catch {
                throw RunError.configuration("audit.path: \(error)")
            }
            try recoverDeadRun()
            // Audit lines a killed first run wrote ahead: never appended, and no longer
            // needed (the recovery above wrote them from the staging area).
            if state != nil { unlink(auditAheadPath) }
        } else if let dead = try state?.inflightRun(directory.name) {
            output("\(directory.name): run \(dead.runID) stopped before its state commit; the next run completes or drops it first, and this plan does not show that")
        }

        // After the recovery: it may have moved the cursor.
        let stored = try state?.cursor(directory.name)
        cursorBytesAtStart = try state?.cursorBytes(directory.name)
        var items = PolicyBuilder.mappingItems(configuration, directory: directory)
        // The snapshot must hold every user's account state before incremental runs rely on it.
        if directory.users.accountState != .off { items.insert("attribute:\(AccountStateMode.attribute.folded)") }
        let newItems = stored.map { items.subtracting($0.mappingItems) } ?? []
        let since = try readStart(stored: stored, newItems: newItems)
        summary.full = since == nil
        summary.cursorBefore = stored?.cursor.map(displayCursor)
        summary.cursorBeforeTime = stored?.cursor
        if let reason = summary.fullReason, summary.full { output("\(directory.name): full run: \(reason)") }

        appEditsBound = since == nil ? nil : appEditsBound(stored: stored)
        retrySet = try state?.retrySet(directory.name) ?? [:]
        inDoubt = try state?.inDoubtWrites(directory.name) ?? [:]
        for conflict in try state?.conflicts(directory.name) ?? [] { storedConflicts[conflict.key, default: []].append(conflict) }

        // Built once from the group snapshots when missing (SyncState+MemberIndex.swift);
        // later commits keep it in step with them.
        if !options.dryRun, usesGroups, directory.groups?.members != .memberOf { try state?.ensureMemberIndex(directory.name) }
        appStartsEmpty = try app.hasNoUsers()
        // The state is written only at the commit: with no snapshot users and no
        // deactivation marks now, every look-up of them while deciding would find nothing.
        snapshotStartsEmpty = try state.map { try !$0.hasUsers(directory.name) && !$0.hasDeactivations(directory.name) } ?? true
        if appStartsEmpty, since == nil, !options.dryRun, options.only.isEmpty, state != nil {
            earlyApply = EarlyAppApply(store: app, mark: CommitMark(directory: directory.name, runID: runID),
                                       auditAhead: auditAhead())
            writesAppWhileReading = true
        }
        // Any way out before the commit below rolls it back.
        defer {
            earlyApply?.cancel()
            earlyApply = nil
            if writesAppWhileReading { unlink(auditAheadPath) }
        }
        let readStart = clock.now
        let limited = !options.only.isEmpty
        // The cookie of the next refresh: a full run's from before its read, so the next
        // refresh names every change made during it; an incremental run's from its listing.
        if let stored = stored?.contentSync, stored.search == contentSyncSearch { contentSyncCookie = stored }
        if since == nil, !limited, try offersContentSync(connection) { takeContentSyncCookie(connection) }
        // --only reads the groups whole (memberships need them) but changes no group
        // snapshot, finds no deletions and leaves the cursor where it is.
        var groupChanges = try readGroups(connection, since: limited ? nil : since)
        // On any way out, the group staging thread is done before the run goes on (with
        // an error, without its last batch: what the run staged is dropped).
        defer {
            lastGroupBatch = nil
            try? finishGroupStaging()
        }
        if limited { groupChanges = GroupChanges() }
        // The new group snapshots wait in the staging area, not in memory (SPEC §13).
        if !options.dryRun, let state, !groupChanges.records.isEmpty {
            try finishGroupStaging()
            try state.stageGroups(directory.name, groupChanges.records)
            groupChanges.records = [:]
        }
        // The group records just freed (and the staging transaction's pages) would stay
        // resident through the user search: about 220 MB at 1,000,000 users.
        HeapTrim.release()
        try readUsers(connection, since: limited ? nil : since, affected: groupChanges.affectedMembers)
        try finishGroupStaging()
        groupChanges.affectedMembers = []
        // Users gone from the directory are no group's members: the index without any.
        if let indexedGroups { memberships = indexedGroups.base }
        if !limited { try findVanished(connection, since: since) }
        releaseDecisionState()
        let readDuration = clock.now - readStart
        try checkInterrupted()
        try flushStaged()
        try checkSafetyLimits()
        try checkInterrupted()

        guard !options.dryRun, let state else {
            try writeLDIF()
            printPlanCounts()
            return
        }
        let newCursor = nextCursor(stored: stored?.cursor)
        summary.cursorAfter = newCursor.map(displayCursor)
        summary.cursorAfterTime = newCursor
        var commit = SyncState.Commit(directory: directory.name)
        if limited {
            summary.cursorAfter = summary.cursorBefore
            summary.cursorAfterTime = summary.cursorBeforeTime
        } else {
            // Every app edit before this run's start is merged (or compared and left
            // pending) once this commit is in (app.findEdits: updated-at).
            commit.cursor = CursorRecord(cursor: newCursor, lastReadDuration: readDuration,
                                         mappingItems: (stored?.mappingItems ?? []).union(items),
                                         appEditsSince: started, appEditsConfiguration: appEditsConfiguration,
                                         // Kept by runs that list nothing (full-only):
                                         // a refresh from it later names every change since.
                                         contentSync: contentSyncCookie)
        }
        commit.groups = groupChanges.records
        commit.deactivated = deactivationMarks
        commit.conflicts = conflictChanges
        commit.retry = retryChanges
        // Two-phase commit (SPEC I1): before anything is written, everything this run
        // will commit is staged and flushed, and the run is recorded as in flight.
        if stagedAppBatches > 0 || !ldapWrites.isEmpty {
            // An --only run leaves the in-doubt values of the users it did not decide.
            var writes = limited ? inDoubt : [:]
            for write in ldapWrites {
                var values: [AttributeName: [[UInt8]]] = [:]
                for change in write.changes { values[change.attribute] = write.agreed.values[change.attribute] ?? [] }
                writes[write.id] = InDoubtRecord(runID: runID, dn: write.dn, key: write.key, values: values)
            }
            try state.stageCommit(commit, inDoubt: writes)
            try state.prepare(directory.name, InflightRecord(runID: runID, writesApp: stagedAppBatches > 0, cursorBefore: cursorBytesAtStart))
        }
        CrashPoint.reach("before-app-apply")
        // A first run's audit lines, written ahead, being appended while the state commit
        // writes (AuditAppend); waited for before its end, and on any way out.
        var appendingAudit: AuditAppend?
        defer { _ = appendingAudit?.wait() }
        if stagedAppBatches > 0 {
            do {
                var applying = PhaseProgress(progress, directory: directory.name, phase: .applyingToApp, total: stagedAppChanges)
                defer { applying.finish() }
                var written = false
                var linesWritten: AuditLog?
                if let early = earlyApply {
                    // Written while reading: the in-flight record is there, commit it now.
                    earlyApply = nil
                    if let failure = early.finish() {
                        logger.notice("the app transaction written during the read failed and was rolled back; the staged changes are applied again: \(failure)")
                    } else {
                        written = true
                        linesWritten = early.auditLinesWritten
                        applying.advance(by: stagedAppChanges)
                    }
                }
                if !written {
                    // The store may ask for the batches a second time, from the first, to
                    // name a failing change: progress counts each batch once.
                    var handedOver = 0
                    try app.apply(replayable: { sequence in
                        if sequence % 20 == 19 { state.releaseMappedPages() }
                        let batch = try state.stagedAppChanges(directory.name, sequence: UInt64(sequence))
                        // A batch handed over is one the transaction is about to write.
                        if let batch, sequence >= handedOver {
                            applying.advance(by: batch.count)
                            handedOver = sequence + 1
                        }
                        return batch
                    }, mark: CommitMark(directory: directory.name, runID: runID))
                }
                if let linesWritten, let audit {
                    if ldapWrites.isEmpty {
                        appendingAudit = AuditAppend(audit: audit, lines: linesWritten)
                    } else {
                        // The write-back's lines follow them in the same log.
                        do { try audit.appendContents(of: linesWritten) } catch { auditFailure = error }
                    }
                } else {
                    try auditAppChanges(state, outcome: .success, message: nil)
                }
            } catch {
                // Nothing was written to the app (one transaction): nothing is committed,
                // the cursor stays, and the next run redoes the work.
                summary.failures.append(RunFailure(.appWriteFailed, key: nil, dn: nil, message: "the app store transaction failed and was rolled back: \(error)"))
                try auditAppChanges(state, outcome: .failure, message: "\(error)")
                try flushAudit()
                try state.dropInflight(directory.name)
                return
            }
        }
        CrashPoint.reach("after-app-commit")
        try writeBack()
        if appendingAudit == nil {
            try flushAudit()
        } else if let auditFailure {
            throw RunError.stateStore("audit log \(configuration.audit.path): \(auditFailure)")
        }
        CrashPoint.reach("after-ldap-writes")

        commit.retry = retryChanges
        summary.durationSeconds = seconds(clock.now - start)
        commit.run = RunRecord(directory: directory.name, started: started,
                               durationMilliseconds: Int(summary.durationSeconds * 1000),
                               exitCode: summary.failures.isEmpty && summary.pendingConflicts == 0 ? 0 : 1,
                               full: summary.full, counts: summary.counts)
        try state.commit(commit, inflight: InflightRecord(runID: runID, writesApp: stagedAppBatches > 0, cursorBefore: cursorBytesAtStart),
                         unsettled: limited ? inDoubt : [:]) {
            if let failure = appendingAudit?.wait() {
                throw RunError.stateStore("audit log \(configuration.audit.path): \(failure)")
            }
        }
    }

    /// The root DSE of the run's server: read at its first use, the schema's location,
    /// then kept for the content-sync control and the naming contexts.
    private func rootDSE(_ connection: LDAPConnection) throws -> RootDSE {
        if let serverRootDSE { return serverRootDSE }
        let root = try connection.readRootDSE()
        serverRootDSE = root
        return root
    }

    /// Waits for the thread that stages the last batch of changed groups' members
    /// (``readGroups``) and throws its error: before anything else uses the staging area.
    private func finishGroupStaging() throws {
        try handOverLastGroupBatch()
        guard let work = groupStaging else { return }
        groupStaging = nil
        try work.finish()
    }

    private func handOverLastGroupBatch() throws {
        guard let batch = lastGroupBatch else { return }
        lastGroupBatch = nil
        try batch()
    }

    /// Every user is decided: the per-user sets and the membership index are not needed
    /// for the writes and the commit, so their memory goes back before those start.
    private func releaseDecisionState() {
        decided = []
        keysInScope = []
        claims = ClaimTable()
        memberships = MembershipIndex(policy: policy.groups, groups: [:])
        indexedGroups = nil
        state?.releaseMappedPages()
        HeapTrim.release()
    }

    /// A run that died after preparing its commit (SPEC I1): if its app transaction
    /// committed (its ``CommitMark``, or it had no app changes), its commit is completed
    /// from the staging area, with its write-back values in doubt until LDAP is read;
    /// otherwise nothing of it was written anywhere and what it staged is dropped.
    private func recoverDeadRun() throws {
        guard let state else { return }
        guard let dead = try state.inflightRun(directory.name) else {
            try state.discardStaged(directory.name)
            return
        }
        let appCommitted = try !dead.writesApp || app.committedRun(of: directory.name) == dead.runID
        guard appCommitted else {
            logger.notice("run \(dead.runID) stopped before its app transaction committed: nothing of it was written; its staged changes are dropped")
            try state.dropInflight(directory.name)
            return
        }
        guard try state.hasStagedCommit(directory.name) else {
            // The staging area was removed or damaged after the run died: its commit
            // cannot be completed, and only a full run re-reads everything.
            output("\(directory.name): run \(dead.runID) stopped after writing the app store, and what it staged (\(configuration.statePath)/staging) is lost: the cursor is cleared and this run reads everything")
            try state.setCursor(directory.name, to: nil)
            try state.dropInflight(directory.name)
            return
        }
        output("\(directory.name): completing the state commit of run \(dead.runID), which stopped after writing the app store")
        logger.notice("completing the state commit of a run that stopped after its app transaction", metadata: ["sync.deadRun": "\(dead.runID)"])
        if dead.writesApp {
            try auditAppChanges(state, outcome: .success,
                                message: "recorded on recovery: run \(dead.runID) committed this change and stopped before its state commit (its own line may be there too)")
            try flushAudit()
        }
        try state.commitStaged(directory.name, recovering: dead)
    }

    /// A user a dead run wrote back to, with values in doubt: those LDAP holds now are
    /// agreed (the write reached LDAP, or LDAP got the same values otherwise); the others
    /// keep the previous agreed values, so the app's edit is merged again.
    private func settleInDoubt(_ record: InDoubtRecord, user: DirectoryUser, snapshot: inout UserSnapshot) {
        for (attribute, values) in record.values
        where UserEvaluation.ldapHolds(user.values[attribute] ?? [], agreed: values, attribute: attribute, policy: policy) {
            snapshot.values[attribute] = values
            appendAudit(AuditRecord(time: wallClock(), runID: runID, side: .ldap, operation: "modify", directory: directory.name,
                                    key: user.key, dn: user.dn,
                                    attributes: [AuditAttribute(name: attribute.description, new: ["<as LDAP holds it>"],
                                                                sensitive: policy.attributes.first { $0.ldap == attribute }?.sensitive ?? false)],
                                    outcome: .success,
                                    message: "recorded on recovery: run \(record.runID) wrote this and stopped before its state commit (its own line may be there too)"))
        }
    }

    /// nil: a full run. Otherwise the `>=` bound of SPEC I2.
    private func readStart(stored: CursorRecord?, newItems: Set<String>) throws -> Timestamp? {
        if options.full {
            summary.fullReason = "--full"
            return nil
        }
        if let since = options.since { return since }
        guard let stored, let cursor = stored.cursor else {
            summary.fullReason = stored == nil ? "no cursor yet (first run)" : "the cursor was cleared"
            return nil
        }
        if !newItems.isEmpty {
            summary.fullReason = "the mapping gained \(PolicyBuilder.describe(newItems)), which the snapshot has never seen"
            return nil
        }
        return cursor.subtracting(directory.timestamp.overlap).subtracting(stored.lastReadDuration)
    }

    /// With `app.findEdits: updated-at`, from when app rows are compared: the start of the
    /// run that committed last, less the overlap (the app's clock may differ from ours).
    /// nil (compare every managed row) for `--since` backfills, after `cursor set|clear`,
    /// before any run recorded the time, and when what decides whether an app edit is
    /// written or left pending changed since (a pending edit must flow once it can).
    private func appEditsBound(stored: CursorRecord?) -> Timestamp? {
        guard configuration.app.findEdits == .updatedAt, options.since == nil, let stored,
              let since = stored.appEditsSince, stored.appEditsConfiguration == appEditsConfiguration else { return nil }
        return since.subtracting(directory.timestamp.overlap)
    }

    /// What decides whether an app edit is written or stays pending (``appEditsBound``).
    private var appEditsConfiguration: String {
        var parts = ["writeBack:\(configuration.writeBack.enabled)", "accountState:\(directory.users.accountState.rawValue)"]
        for attribute in configuration.attributes {
            parts.append("\(attribute.ldap.folded):\(attribute.direction.rawValue):\(attribute.conflict.rawValue)")
        }
        return parts.sorted().joined(separator: "|")
    }

    /// The new cursor: the newest server timestamp seen, never backwards, never the local
    /// clock (I2); unchanged when an entry's timestamp could not be read.
    private func nextCursor(stored: Timestamp?) -> Timestamp? {
        guard !holdCursor, let newest = newestSeen else { return stored }
        guard let stored else { return newest }
        return max(stored, newest)
    }

    private func displayCursor(_ timestamp: Timestamp) -> String {
        (try? TimestampPattern(configuration.cursor.display))?.format(timestamp) ?? timestamp.iso8601
    }

    private func checkInterrupted() throws {
        if isInterrupted() { throw RunError.interrupted }
    }

    // MARK: Filters

    private func filter(_ configured: String, since: Timestamp?) throws -> String {
        guard let since else { return configured }
        do {
            return try Self.incrementalFilter(configured, attribute: directory.timestamp.attribute, pattern: pattern, since: since)
        } catch {
            throw RunError.configuration("directories.\(directory.name): filter \(configured): \(error)")
        }
    }

    /// `(&<filter>(<timestamp attribute>>=<since in the pattern>))` (SPEC §4), built from
    /// parsed parts so every value is escaped.
    static func incrementalFilter(_ configured: String, attribute: AttributeName, pattern: TimestampPattern, since: Timestamp) throws -> String {
        let base = try Filter(parsing: configured)
        return Filter.and([base, .greaterOrEqual(attribute, pattern.format(since))]).description
    }

    // MARK: Groups

    struct GroupChanges {
        /// New group snapshots by id (nil: the group is gone).
        var records: [[UInt8]: GroupRecord?] = [:]
        /// Member references whose groups changed: their users must be decided again.
        var affectedMembers: Set<MemberReference> = []
    }

    private var usesGroups: Bool {
        guard directory.groups != nil else { return false }
        if case .none = configuration.groups { return false }
        return true
    }

    private func readGroups(_ connection: LDAPConnection, since: Timestamp?) throws -> GroupChanges {
        var changes = GroupChanges()
        guard usesGroups, let scope = directory.groups else {
            memberships = MembershipIndex(policy: policy.groups, groups: [:])
            return changes
        }
        // With the member index, a run holds only the changed groups' members: the index
        // answers which unchanged groups hold the users it decides (SyncState+MemberIndex.swift).
        // --only runs read every group without changing their snapshots (below).
        let hasIndex = try state?.hasMemberIndex(directory.name) ?? false
        let indexed = options.only.isEmpty && scope.members != .memberOf && hasIndex
        let snapshot = indexed ? [:] : try state?.groups(directory.name) ?? [:]
        let heads = indexed ? try state?.groupHeads(directory.name) ?? [:] : [:]
        var current = snapshot
        func stored(_ id: [UInt8]) throws -> GroupRecord? {
            indexed ? try state?.group(directory.name, id: id) : snapshot[id]
        }
        // The changed groups' members go to the staging area as they are read (not in
        // a dry run, which stages nothing): memory holds none of them.
        let stagesMembers = indexed && !options.dryRun
        var membersToStage: [[UInt8]: GroupRecord] = [:]
        var membersToStageCount = 0
        /// The changed groups' DNs and names when their snapshots are staged as read.
        var stagedHeads: [[UInt8]: (dn: String, name: String)] = [:]
        // A thread of its own stages them while the next groups are read: until
        // `staging.finish()`, the staging area is its alone (the run reads only the state).
        let staging = stagesMembers ? state.map { BackgroundWork(name: "ldapsync group staging", lending: $0) } : nil
        // On the way out with an error: the thread is done with the staging area before
        // the run goes on to drop what it staged. Its own error, if any, is the lesser one.
        var stagingFinished = false
        defer { if !stagingFinished { try? staging?.finish() } }
        func flushMembers() throws {
            if let staging, !membersToStage.isEmpty {
                // Handed over as bytes in a few buffers: sets of strings freed by another
                // thread would leave the heap fragmented.
                let name = directory.name
                let keys = SyncState.memberIndexKeys(name, membersToStage.map { ($0.key, $0.value.members) })
                let groups = SyncState.stagedGroups(name, membersToStage)
                try staging.submit { state in
                    try state.stageMembers(name, keys: keys)
                    try state.stageGroups(packed: groups)
                    state.staging?.releaseMappedPages()
                }
            }
            state?.environment.releaseMappedPages()
            membersToStage.removeAll(keepingCapacity: true)
            membersToStageCount = 0
        }
        let membersAttribute = AttributeName(scope.members.rawValue)
        // With rangeSize, ask for the first range explicitly (AD range retrieval); without
        // it the server decides (Windows answers member;range=0-1499 past 1500 values).
        let requestedMembers = directory.rangeSize.map { membersAttribute.withRange(ValueRange(low: 0, size: $0)) } ?? membersAttribute
        let attributes = ["cn", requestedMembers.description, directory.users.id.description, directory.timestamp.attribute.description]
        var seen: Set<[UInt8]> = []
        var comparedMembers = 0
        func consider(_ id: [UInt8], _ record: GroupRecord) throws {
            let before = try stored(id)
            // Unchanged groups stage nothing (no flush releases the pages): the snapshots
            // read would otherwise all stay resident, 330 MB of the map at 1M.
            comparedMembers += before?.members.count ?? 0
            if comparedMembers >= 50_000 {
                state?.releaseMappedPages()
                comparedMembers = 0
            }
            guard before != record else { return }
            // A full run decides every user anyway: no need to remember whom a change affects.
            if since != nil {
                changes.affectedMembers.formUnion((before?.members ?? []).symmetricDifference(record.members))
            }
            if stagesMembers {
                stagedHeads[id] = (record.dn, record.name)
                membersToStage[id] = record
                membersToStageCount += record.members.count
                // Batches of 25,000 members: with one being staged and one waiting,
                // 50,000 took the 1M peak from 116 to 128 MB.
                if membersToStageCount >= 25_000 { try flushMembers() }
                return
            }
            changes.records[id] = record
            if !indexed { current[id] = record }
        }
        if scope.members != .memberOf {
            let request = SearchRequest(base: scope.base, scope: searchScope(scope.scope),
                                        filter: try filter(scope.filter, since: since), attributes: attributes,
                                        pageSize: directory.pageSize)
            var fetching = PhaseProgress(progress, directory: directory.name, phase: .fetchingGroups)
            defer { fetching.finish() }
            // Groups whose member list came in part: the rest is read after the paged
            // search, whose entries are only valid while it streams.
            var unfinished: [(id: [UInt8], record: GroupRecord, next: Int)] = []
            let searched = try connection.search(request) { entry in
                summary.fetchedGroups += 1
                fetching.advance()
                guard let id = entry.values(of: directory.users.id)?.first else {
                    summary.failures.append(RunFailure(.entryInvalid, key: nil, dn: entry.dn, message: "group has no \(directory.users.id) attribute"))
                    return
                }
                seen.insert(id)
                noteTimestamp(entry, dn: entry.dn)
                let (record, next) = try groupRecord(entry, members: membersAttribute, scope: scope)
                if let next {
                    unfinished.append((id, record, next))
                } else {
                    try consider(id, record)
                }
            }
            summary.groupPages += searched.pages
            for var group in unfinished {
                let rest = try connection.readRemainingValues(dn: group.record.dn, attribute: membersAttribute, from: group.next,
                                                              rangeSize: directory.rangeSize)
                summary.rangeRequests += rest.requests
                group.record.members.formUnion(memberReferences(rest.values, scope: scope))
                logger.debug("group members read in ranges", metadata: [
                    "ldap.dn": "\(group.record.dn)", "ldap.ranges": "\(rest.requests + 1)", "sync.members": "\(group.record.members.count)",
                ])
                try consider(group.id, group.record)
            }
        }
        var retired: Set<String> = []
        let gone = try vanishedGroupIDs(connection, scope: scope, since: since, seen: seen,
                                        storedIDs: indexed ? Array(heads.keys) : Array(snapshot.keys))
        for id in gone {
            if let old = try stored(id) {
                changes.affectedMembers.formUnion(old.members)
                retired.insert(old.name)
            }
            changes.records[id] = .some(nil)
            current[id] = nil
        }
        if indexed {
            // The last batch is packed once the user search has been sent, and staged
            // while the server prepares its first page: ``finishGroupStaging()`` waits for
            // it before anything else reads or writes the staging area.
            lastGroupBatch = flushMembers
            groupStaging = staging
            stagingFinished = true
            // The groups without their members; each batch adds its users' memberships.
            var byDN: [String: GroupRecord] = [:]
            var dnKeys: [[UInt8]: String] = [:]
            for (id, head) in heads where changes.records[id] == nil && stagedHeads[id] == nil {
                guard let dnKey = try? DNKey.make(head.dn) else { continue }
                dnKeys[id] = dnKey
                byDN[dnKey] = GroupRecord(dn: head.dn, name: head.name, members: [])
            }
            var changedIDs: [[UInt8]: String] = [:]
            var changed: [MemberReference: [String]] = [:]
            for (id, head) in stagedHeads {
                guard let dnKey = try? DNKey.make(head.dn) else { continue }
                byDN[dnKey] = GroupRecord(dn: head.dn, name: head.name, members: [])
                changedIDs[id] = dnKey
            }
            for case (let id, let record?) in changes.records {
                guard let dnKey = try? DNKey.make(record.dn) else { continue }
                byDN[dnKey] = GroupRecord(dn: record.dn, name: record.name, members: [])
                changedIDs[id] = dnKey
                for member in record.members { changed[member, default: []].append(dnKey) }
            }
            let base = MembershipIndex(policy: policy.groups, groups: byDN, retiredGroupNames: retired)
            // Each group id straight to its app groups: a batch's look-ups then build no
            // per-group lists (groups that map to none are left out).
            func appGroups(_ ids: [[UInt8]: String]) -> [Digest: Set<String>] {
                var result: [Digest: Set<String>] = [:]
                result.reserveCapacity(ids.count)
                for (id, dnKey) in ids { if let groups = base.appGroups(ofGroup: dnKey) { result[Digest(id)] = groups } }
                return result
            }
            var changedAppGroups: [MemberReference: Set<String>] = [:]
            for (member, dnKeys) in changed {
                for dnKey in dnKeys { if let groups = base.appGroups(ofGroup: dnKey) { changedAppGroups[member, default: []].formUnion(groups) } }
            }
            indexedGroups = IndexedGroups(base: base, storedGroups: appGroups(dnKeys), stagedGroups: appGroups(changedIDs),
                                          changedMembers: changedAppGroups,
                                          stagedMembers: stagesMembers && !changedIDs.isEmpty,
                                          storedMembers: !dnKeys.isEmpty,
                                          references: scope.members == .memberUid ? .keys : .dns)
            memberships = base
        } else {
            var byDN: [String: GroupRecord] = [:]
            for record in current.values {
                do { byDN[try DNKey.make(record.dn)] = record } catch { continue }
            }
            memberships = MembershipIndex(policy: policy.groups, groups: byDN, retiredGroupNames: retired)
        }
        return changes
    }

    /// A run's groups when the member index is complete: the index of the groups without
    /// members, the app groups of the unchanged ones by id, and of the changed ones (whose
    /// stored index entries are out of date until the commit): staged, or in memory in a
    /// dry run.
    struct IndexedGroups {
        var base: MembershipIndex
        /// Unchanged groups, whose stored index entries hold: their app groups by id.
        var storedGroups: [Digest: Set<String>]
        /// Groups this run changed, whose members are staged: their app groups by id.
        var stagedGroups: [Digest: Set<String>]
        /// The members of changed groups not staged (a dry run), with their app groups.
        var changedMembers: [MemberReference: Set<String>]
        /// Whether to look up the staged members of changed groups, and the stored index.
        var stagedMembers: Bool
        var storedMembers: Bool
        /// Which references the members are (memberUid: keys; member, uniqueMember: DNs).
        var references: MemberKind
        enum MemberKind { case dns, keys }
    }

    /// Before a batch is decided (runs with the member index): the index with the
    /// memberships of these users only.
    private func prepareMemberships(for users: [DirectoryUser]) throws {
        try finishGroupStaging()
        guard let indexedGroups, let state else { return }
        var references: [MemberReference] = []
        references.reserveCapacity(users.count)
        for user in users {
            switch indexedGroups.references {
            case .dns: references.append(.dn(user.dnKey))
            case .keys: references.append(.key(user.key))
            }
        }
        var byDN: [String: Set<String>] = [:]
        var byKey: [String: Set<String>] = [:]
        switch indexedGroups.references {
        case .dns: byDN.reserveCapacity(users.count)
        case .keys: byKey.reserveCapacity(users.count)
        }
        // Most users are in one group: its set is shared, not copied.
        func add(_ groups: Set<String>, to index: inout [String: Set<String>], _ member: String) {
            if let found = index.index(forKey: member) { index.values[found].formUnion(groups) } else { index[member] = groups }
        }
        func add(_ reference: MemberReference, _ groups: Set<String>) {
            switch reference {
            case .dn(let dnKey): add(groups, to: &byDN, dnKey)
            case .key(let key): add(groups, to: &byKey, key)
            }
        }
        // Stored entries of changed groups are out of date: they are not in `storedGroups`.
        if indexedGroups.storedMembers {
            try state.forEachGroupID(directory.name, holding: references) { reference, id in
                if let groups = indexedGroups.storedGroups[Digest(id)] { add(reference, groups) }
            }
        }
        if indexedGroups.stagedMembers {
            try state.forEachGroupID(directory.name, holding: references, staged: true) { reference, id in
                if let groups = indexedGroups.stagedGroups[Digest(id)] { add(reference, groups) }
            }
        }
        if !indexedGroups.changedMembers.isEmpty {
            for reference in references {
                if let groups = indexedGroups.changedMembers[reference] { add(reference, groups) }
            }
        }
        memberships = indexedGroups.base.adding(byMemberDN: byDN, byMemberKey: byKey)
    }

    /// The group as read, and where its member list continues when the server sent only
    /// its first range (AD: `member;range=0-1499`); nil when the list is whole.
    private func groupRecord(_ entry: borrowing EntryView, members: AttributeName, scope: GroupScope) throws -> (GroupRecord, next: Int?) {
        let dn = entry.dn
        let name = entry.values(of: "cn")?.first.flatMap { UTF8Text.string($0) } ?? dn
        var references: Set<MemberReference> = []
        var next: Int?
        // Every option form of the members attribute: plain, or a range.
        for index in 0..<entry.attributeCount {
            let attribute = entry.name(at: index)
            guard attribute.type == members else { continue }
            if let range = attribute.range, let high = range.high { next = max(next ?? 0, high + 1) }
            references.reserveCapacity(references.count + entry.valueCount(at: index))
            // Straight from the entry's bytes: no copy of each value, no String for a plain DN.
            entry.forEachValue(at: index) { value in
                if let reference = memberReference(value, scope: scope) { references.insert(reference) }
            }
        }
        return (GroupRecord(dn: dn, name: name, members: references, timestamp: timestamp(entry)), next)
    }

    private func memberReferences(_ values: [[UInt8]], scope: GroupScope) -> Set<MemberReference> {
        var references: Set<MemberReference> = []
        references.reserveCapacity(values.count)
        for value in values {
            if let reference = value.withUnsafeBytes({ memberReference($0, scope: scope) }) { references.insert(reference) }
        }
        return references
    }

    /// One member value as a reference (nil: not UTF-8, or not a DN where one is needed).
    private func memberReference(_ value: UnsafeRawBufferPointer, scope: GroupScope) -> MemberReference? {
        switch scope.members {
        case .memberUid: UTF8Text.string(value).map { .key($0) }
        case .uniqueMember: UTF8Text.string(value).flatMap { try? DNKey.make(uniqueMember: $0) }.map { .dn($0) }
        case .member, .memberOf: DNKey.make(utf8: value).map { .dn($0) }
        }
    }

    /// Groups gone since the snapshot: on a full run, those not seen; otherwise those an
    /// id-only listing no longer finds (deletions every-run).
    private func vanishedGroupIDs(_ connection: LDAPConnection, scope: GroupScope, since: Timestamp?,
                                  seen: Set<[UInt8]>, storedIDs: [[UInt8]]) throws -> [[UInt8]] {
        guard scope.members != .memberOf, !storedIDs.isEmpty else { return [] }
        if since == nil { return storedIDs.filter { !seen.contains($0) } }
        guard directory.deletions == .everyRun else { return [] }
        var listed: Set<[UInt8]> = []
        let request = SearchRequest(base: scope.base, scope: searchScope(scope.scope), filter: scope.filter,
                                    attributes: [directory.users.id.description], pageSize: directory.pageSize)
        try connection.search(request) { entry in
            if let id = entry.values(of: directory.users.id)?.first { listed.insert(id) }
        }
        return storedIDs.filter { !listed.contains($0) }
    }

    // MARK: Users

    private var userAttributes: [String] {
        var names = [directory.users.id.description, directory.users.key.description, directory.timestamp.attribute.description]
        names += configuration.attributes.map(\.ldap.description)
        if let accountState = policy.accountState { names.append(accountState.attribute.description) }
        if directory.groups?.members == .memberOf { names.append("memberOf") }
        return names
    }

    private func readUsers(_ connection: LDAPConnection, since: Timestamp?, affected: Set<MemberReference>) throws {
        var batch: [DirectoryUser] = []
        var userFilter = try filter(directory.users.filter, since: since)
        if !options.only.isEmpty {
            let keys = Filter.or(options.only.map { Filter.equality(directory.users.key, $0) })
            do { userFilter = Filter.and([try Filter(parsing: userFilter), keys]).description } catch {
                throw RunError.configuration("directories.\(directory.name).users.filter: \(error)")
            }
        }
        let request = SearchRequest(base: directory.users.base, scope: searchScope(directory.users.scope),
                                    filter: userFilter, attributes: userAttributes, pageSize: directory.pageSize)
        var fetching = PhaseProgress(progress, directory: directory.name, phase: .fetchingUsers)
        defer { fetching.finish() }
        func decideBatch() throws {
            try prepareMemberships(for: batch)
            try decide(batch)
            batch.removeAll(keepingCapacity: true)
            try checkInterrupted()
        }
        // A page's users are decided once the next page is asked for, while the server
        // prepares it (about 1 ms of its time a page, and the round trip); within a page
        // only when pages are large, so that memory holds a bounded batch.
        let batchWithinPage = directory.pageSize <= 2_000 ? Int.max : 1_000
        summary.userPages += try connection.search(request, afterFirstRequest: handOverLastGroupBatch,
                                                   afterNextPageRequest: { if !batch.isEmpty { try decideBatch() } }) { entry in
            summary.fetchedUsers += 1
            fetching.advance()
            // Debug builds only: a fault test stops the server between two pages.
            if summary.fetchedUsers == directory.pageSize { CrashPoint.reach("mid-user-fetch") }
            if let user = directoryUser(entry, recordKey: since == nil) { batch.append(user) }
            if batch.count >= batchWithinPage { try decideBatch() }
        }.pages
        try prepareMemberships(for: batch)
        try decide(batch)

        // Users not fetched whose groups changed, and the retry set (I3): read them again.
        guard options.only.isEmpty else { return }
        var again: Set<[UInt8]> = Set(retrySet.keys).union(inDoubt.keys)
        for reference in affected {
            let id: [UInt8]?
            switch reference {
            case .dn(let dnKey): id = try state?.userID(directory.name, dnKey: dnKey)
            case .key(let key): id = try state?.userID(directory.name, appKey: key)
            }
            if let id { again.insert(id) }
        }
        // Users with a stored conflict: an administrator's `conflicts resolve` is applied
        // by deciding them again (a scan of the app rows would find them too).
        for key in storedConflicts.keys {
            if let id = try state?.userID(directory.name, appKey: key) { again.insert(id) }
        }
        // A full run has decided every user in scope already.
        if since != nil { again.formUnion(try appEditedUserIDs()) }
        again = again.filter { !isDecided(Digest($0)) }
        try reread(connection, ids: Array(again))
        rereadMissing = again.filter { !isDecided(Digest($0)) }
    }

    /// Managed app users whose row differs from the snapshot's agreed values: app-side
    /// edits, merged this run although LDAP did not change them. One scan of the managed
    /// rows (with `app.findEdits: updated-at`, of those updated since ``appEditsBound``)
    /// and one snapshot look-up each.
    private func appEditedUserIDs() throws -> Set<[UInt8]> {
        guard let state else { return [] }
        var edited: Set<[UInt8]> = []
        var batch: [AppUser] = []
        var checks = 0
        func check() throws {
            checks += 1
            if checks % 20 == 0 { state.releaseMappedPages() }
            let snapshots = try state.users(directory.name, appKeys: batch.map(\.key))
            for user in batch {
                guard let (id, snapshot) = snapshots[user.key], !isDecided(Digest(id)) else { continue }
                if UserEvaluation.appDiffers(user, from: snapshot, policy: policy) { edited.insert(id) }
            }
            batch.removeAll(keepingCapacity: true)
        }
        var compared = 0
        try app.forEachManagedUser(updatedSince: appEditsBound) { user in
            compared += 1
            batch.append(user)
            if batch.count >= 500 { try check() }
        }
        try check()
        logger.debug("app rows compared with their snapshot", metadata: [
            "sync.rows": "\(compared)", "sync.edited": "\(edited.count)",
            "sync.updatedSince": "\(appEditsBound.map { $0.iso8601 } ?? "(every managed row)")",
        ])
        return edited
    }

    /// Reads users by id (in chunks) and decides them.
    private func reread(_ connection: LDAPConnection, ids: [[UInt8]]) throws {
        guard !ids.isEmpty else { return }
        var fetching = PhaseProgress(progress, directory: directory.name, phase: .fetchingUsers, total: ids.count)
        defer { fetching.finish() }
        let base: Filter
        do { base = try Filter(parsing: directory.users.filter) } catch {
            throw RunError.configuration("directories.\(directory.name).users.filter: \(error)")
        }
        for start in stride(from: 0, to: ids.count, by: 100) {
            let chunk = ids[start..<min(start + 100, ids.count)]
            let filter = Filter.and([base, .or(chunk.map { Filter.equality(directory.users.id, $0) })])
            var batch: [DirectoryUser] = []
            let request = SearchRequest(base: directory.users.base, scope: searchScope(directory.users.scope),
                                        filter: filter.description, attributes: userAttributes, pageSize: directory.pageSize)
            try connection.search(request) { entry in
                summary.fetchedUsers += 1
                fetching.advance()
                if let user = directoryUser(entry) { batch.append(user) }
            }
            try prepareMemberships(for: batch)
            try decide(batch)
        }
    }

    /// The engine's view of an entry; nil (and a reported failure) when it lacks an id or
    /// key or its DN cannot be parsed.
    private func directoryUser(_ entry: borrowing EntryView, recordKey: Bool = false) -> DirectoryUser? {
        let dn = entry.dn
        guard let id = entry.firstValue(of: directory.users.id), !id.isEmpty else {
            let key = entry.firstValue(of: directory.users.key).flatMap { UTF8Text.string($0) }
            if let key {
                keysWithoutID.insert(key)
                if recordKey { keysInScope.insert(Digest(key)) }
            }
            fail(.entryInvalid, id: nil, key: key, dn: dn, "the entry has no \(directory.users.id) (the id attribute); it cannot be tracked")
            return nil
        }
        guard let keyBytes = entry.firstValue(of: directory.users.key),
              let key = UTF8Text.string(keyBytes), !key.isEmpty else {
            fail(.entryInvalid, id: id, key: nil, dn: dn, "the entry (\(directory.users.id) \(EntryIDDisplay.text(id, attribute: directory.users.id))) has no usable \(directory.users.key) (the key attribute)")
            return nil
        }
        // In scope even if it fails below: a failed entry is never taken for a vanished one.
        if recordKey { keysInScope.insert(Digest(key)) }
        let dnKey: String
        do { dnKey = try DNKey.make(dn) } catch {
            fail(.entryInvalid, id: id, key: key, dn: dn, "the DN cannot be parsed: \(error)")
            return nil
        }
        // What noteTimestamp(_:dn:id:key:) does, with the parsed time kept for the user
        // (the entry's timestamp is parsed once).
        var time: Timestamp?
        if let value = entry.firstValue(of: directory.timestamp.attribute) {
            do {
                let parsed = try Timestamp(generalizedTimeBytes: value)
                newestSeen = max(newestSeen ?? parsed, parsed)
                time = parsed
            } catch {
                holdCursor = true
                fail(.entryInvalid, id: id, key: key, dn: dn, "\(directory.timestamp.attribute) \(error); the cursor is not advanced past it")
                return nil
            }
        }
        var values = [AttributeName: [[UInt8]]](minimumCapacity: configuration.attributes.count + 1)
        for attribute in configuration.attributes {
            if let list = entry.values(of: attribute.ldap) { values[attribute.ldap] = list }
        }
        if let accountState = policy.accountState, let list = entry.values(of: accountState.attribute) {
            values[accountState.attribute] = list
        }
        var memberOf: [String] = []
        if directory.groups?.members == .memberOf {
            for value in entry.values(of: "memberOf") ?? [] {
                if let key = value.withUnsafeBytes({ DNKey.make(utf8: $0) }) { memberOf.append(key) }
            }
        }
        return DirectoryUser(id: id, dn: dn, dnKey: dnKey, key: key, values: values, memberOf: memberOf, timestamp: time)
    }

    /// Records the entry's server timestamp for the cursor. An unparseable one is an
    /// error naming the entry, and the cursor must not pass it (returns false).
    @discardableResult
    private func noteTimestamp(_ entry: borrowing EntryView, dn: String, id: [UInt8]? = nil, key: String? = nil) -> Bool {
        guard let value = entry.values(of: directory.timestamp.attribute)?.first else { return true }
        do {
            let time = try Timestamp(generalizedTimeBytes: value)
            newestSeen = max(newestSeen ?? time, time)
            return true
        } catch {
            holdCursor = true
            fail(.entryInvalid, id: id, key: key, dn: dn, "\(directory.timestamp.attribute) \(error); the cursor is not advanced past it")
            return false
        }
    }

    private func timestamp(_ entry: borrowing EntryView) -> Timestamp? {
        entry.values(of: directory.timestamp.attribute)?.first.flatMap { try? Timestamp(generalizedTimeBytes: $0) }
    }

    private func fail(_ kind: FailureKind, id: [UInt8]?, key: String?, dn: String?, _ message: String) {
        let failure = RunFailure(kind, key: key, dn: dn, message: message)
        summary.failures.append(failure)
        logger.error("\(failure)")
        guard let id else { return }
        decided.insert(Digest(id))
        let previous = retrySet[id]
        retryChanges[id] = RetryRecord(key: key, dn: dn, message: message, attempts: (previous?.attempts ?? 0) + 1,
                                       firstFailure: previous?.firstFailure ?? wallClock())
    }

    // MARK: Deciding

    /// Decides a batch of users present in the directory.
    private func decide(_ users: [DirectoryUser]) throws {
        guard !users.isEmpty else { return }
        let lookUpState = !snapshotStartsEmpty
        let snapshots = try lookUpState ? state?.users(directory.name, ids: users.map(\.id)) ?? [:] : [:]
        let reactivatable = try lookUpState ? state?.deactivatedBySync(directory.name, appKeys: users.map(\.key)) ?? [] : []
        let keyHolders = try lookUpState ? state?.users(directory.name, appKeys: users.map(\.key)) ?? [:] : [:]
        var appUsers: [String: AppUser] = [:]
        var groups: [String: Set<String>] = [:]
        if !appStartsEmpty {
            var keys = Set(users.map(\.key))
            for snapshot in snapshots.values { keys.insert(snapshot.key) }
            appUsers = try app.users(withKeys: Array(keys))
            if !memberships.managedGroups.isEmpty { groups = try app.memberships(ofUsers: Array(keys), in: memberships.managedGroups) }
        }
        // Read once a batch: a property of the run passed to each evaluation would be
        // copied (every array and dictionary in it retained and released) per user.
        let policy = self.policy
        let memberships = self.memberships
        for user in users {
            let id = Digest(user.id)
            let key = Digest(user.key)
            guard !isDecided(id) else { continue }
            if let holder = keyHolder(of: user, id: id, key: key, snapshotHolder: keyHolders[user.key]) {
                fail(.entryInvalid, id: user.id, key: user.key, dn: user.dn,
                     "\(directory.users.key) \(user.key) is already the key of \(holder) (the app key names one entry); this entry is not synced until one of them changes")
                continue
            }
            claims.claim(key: key, id: id)
            keysInScope.remove(key)
            var snapshot = snapshots[user.id]
            if let record = inDoubt[user.id], var base = snapshot {
                settleInDoubt(record, user: user, snapshot: &base)
                snapshot = base
            }
            let previousKey = snapshot.flatMap { $0.key != user.key ? $0.key : nil }
            let current = appUsers[user.key]
            let appKey = current != nil || previousKey == nil ? user.key : previousKey!
            var state = UserState(
                id: user.id, directory: user, snapshot: snapshot, app: current,
                appUnderPreviousKey: previousKey.flatMap { appUsers[$0] },
                appGroups: groups[appKey] ?? [],
                deactivatedBySync: reactivatable.contains(user.key))
            for conflict in storedConflicts[user.key] ?? [] {
                if let resolution = conflict.resolution { state.resolutions[AttributeName(conflict.attribute)] = resolution }
            }
            do {
                let plan = try UserEvaluation.evaluate(state, policy: policy, memberships: memberships)
                record(plan, id: user.id)
                var agreed = UserSnapshot(user)
                agreed.values = plan.agreed
                stagedBatch.append((user.id, agreed))
                if !plan.ldapChanges.isEmpty, !options.dryRun {
                    ldapWrites.append(LDAPWrite(id: user.id, dn: user.dn, key: user.key, changes: plan.ldapChanges, previous: snapshot, agreed: agreed))
                }
            } catch {
                fail(.valueInvalid, id: user.id, key: user.key, dn: user.dn, error.message)
            }
        }
        try flushStaged()
    }

    /// The DN of another entry that holds the user's key: one decided earlier in this run,
    /// or the snapshot's holder unless this run decided it under another key (a rename).
    /// Two entries with one key would otherwise write one app row from two entries.
    /// - Parameters: id, key: the digests of the user's id and key.
    private func keyHolder(of user: DirectoryUser, id: Digest, key: Digest, snapshotHolder: ([UInt8], UserSnapshot)?) -> String? {
        if let claim = claims.id(claiming: key), claim != id { return claimantDN(of: user, claim: claim) }
        guard let (holder, snapshot) = snapshotHolder, holder != user.id else { return nil }
        if let claimed = claims.key(claimedBy: Digest(holder)), claimed != key { return nil }
        return snapshot.dn
    }

    /// The DN of the entry of this run that claimed the user's key first. The run keeps
    /// only digests of every user (bounded memory), so the DN is looked up in the
    /// directory, on this rare path only.
    private func claimantDN(of user: DirectoryUser, claim: Digest) -> String {
        let unknown = "another entry read in this run"
        guard let connection = readConnection, let base = try? Filter(parsing: directory.users.filter) else { return unknown }
        var found: String?
        let request = SearchRequest(base: directory.users.base, scope: searchScope(directory.users.scope),
                                    filter: Filter.and([base, .equality(directory.users.key, Array(user.key.utf8))]).description,
                                    attributes: [directory.users.id.description], pageSize: directory.pageSize)
        _ = try? connection.search(request) { entry in
            if let id = entry.values(of: directory.users.id)?.first, Digest(id) == claim { found = entry.dn }
        }
        return found ?? unknown
    }

    private func record(_ plan: UserPlan, id: [UInt8]) {
        summary.count(plan)
        // Manual conflicts are stored until resolved; stored ones no longer in conflict
        // (resolved, or the sides agree again) are forgotten.
        var stillPending: Set<String> = []
        for conflict in plan.conflicts where conflict.ldapWon == nil {
            stillPending.insert(conflict.attribute.folded)
            let recordKey = SyncState.conflictKey(directory.name, key: plan.key, attribute: conflict.attribute.description)
            let since = storedConflicts[plan.key]?.first { AttributeName($0.attribute) == conflict.attribute }?.since ?? wallClock()
            conflictChanges[recordKey] = ConflictRecord(key: plan.key, attribute: conflict.attribute.description,
                                                        ldap: conflict.ldap, app: conflict.app, resolution: nil, since: since)
        }
        for stored in storedConflicts[plan.key] ?? [] where !stillPending.contains(stored.attribute.lowercased()) {
            conflictChanges[SyncState.conflictKey(directory.name, key: plan.key, attribute: stored.attribute)] = .some(nil)
        }
        for conflict in plan.conflicts where !options.dryRun {
            let sensitive = policy.attributes.first { $0.ldap == conflict.attribute }?.sensitive ?? false
            let settled = conflict.ldapWon.map { $0 ? "LDAP's value kept (\(conflict.policy))" : "the app's value kept (\(conflict.policy))" }
                ?? "manual: nothing written until resolved"
            appendAudit(AuditRecord(time: wallClock(), runID: runID, side: .app, operation: "conflict", directory: directory.name,
                                    key: plan.key, dn: plan.dn,
                                    attributes: [AuditAttribute(name: conflict.attribute.description, old: [conflict.ldap], new: [conflict.app], sensitive: sensitive)],
                                    outcome: conflict.ldapWon == nil ? .skipped : .success, message: settled))
        }
        for conflict in plan.conflicts {
            logger.notice("conflict on \(conflict.attribute): LDAP \(conflict.ldap), app \(conflict.app); \(conflict.ldapWon.map { $0 ? "LDAP's value kept" : "the app's value kept" } ?? "manual: nothing written")",
                          metadata: ["sync.key": "\(plan.key)"])
        }
        if retrySet[id] != nil { retryChanges[id] = .some(nil) }
        // Only a user gone from LDAP is reactivated when it comes back; an account disabled
        // in LDAP (users.accountState) follows the account's state instead.
        if plan.deactivated, plan.action == .vanished { deactivationMarks[plan.key] = true }
        if plan.reactivated { deactivationMarks[plan.key] = false }
        if !plan.removedGroups.isEmpty { usersLosingMemberships += 1 }
        if options.ldifPath != nil, !plan.ldapChanges.isEmpty, let dn = plan.dn {
            ldif += LDIFWriter.modify(dn: dn, changes: plan.ldapChanges)
        }
        if options.dryRun { printPlan(plan) } else { appBatch += plan.changes }
    }

    /// Stages the decided snapshots and app changes (never in a dry run), so memory holds
    /// one batch of them.
    private func flushStaged() throws {
        try finishGroupStaging()
        // The mapped pages every 2,000 users decided (a batch's member look-ups touch
        // pages all over the staged index, each with 64 KB mapped around it), the heap
        // every 10,000 (the batches are a page or 500 users).
        usersSincePageRelease += stagedBatch.count
        usersSinceRelease += stagedBatch.count
        if usersSincePageRelease >= 2_000 {
            usersSincePageRelease = 0
            state?.releaseMappedPages()
        }
        if usersSinceRelease >= 10_000 {
            usersSinceRelease = 0
            HeapTrim.release()
        }
        if !options.dryRun, let state {
            try state.stage(directory.name, users: stagedBatch)
            if !appBatch.isEmpty {
                try state.stageAppChanges(directory.name, appBatch, sequence: stagedAppBatches)
                stagedAppChanges += appBatch.count
                stagedAppBatches += 1
                if let early = earlyApply, !early.push(appBatch, time: wallClock()) {
                    // It failed: the batches are applied after the read, as without it.
                    earlyApply = nil
                }
            }
        }
        stagedBatch.removeAll(keepingCapacity: true)
        appBatch.removeAll(keepingCapacity: true)
    }

    // MARK: Deletions (SPEC I5)

    /// Users gone from the scope, known only from a complete read: on a full run, the
    /// snapshot users not read; otherwise those an id-only listing no longer finds, or
    /// (`deletions: tombstones`) those whose tombstone appeared since the cursor. Any
    /// incomplete search has thrown before this point, so nobody is deactivated after a
    /// partial read.
    private func findVanished(_ connection: LDAPConnection, since: Timestamp?) throws {
        guard let state, directory.deletions != .off else { return }
        let goneIDs: [[UInt8]]
        if let since, directory.deletions == .tombstones {
            let base = try namingContext(connection)
            goneIDs = try deletedUserIDs(connection, base: base, since: since)
                + movedOutUserIDs(connection, state: state, base: base, since: since)
        } else {
            goneIDs = try unlistedUserIDs(connection, state: state, since: since)
        }
        let goneSnapshots = try state.users(directory.name, ids: goneIDs)
        let gone = goneIDs.compactMap { id in
            goneSnapshots[id].flatMap { keysWithoutID.contains($0.key) ? nil : (id, $0) }
        }
        for chunkStart in stride(from: 0, to: gone.count, by: 500) {
            let chunk = gone[chunkStart..<min(chunkStart + 500, gone.count)]
            let keys = chunk.map(\.1.key)
            // Written while reading: the store was empty at the start (nobody to find).
            let appUsers = writesAppWhileReading ? [:] : try app.users(withKeys: keys)
            let groups = try writesAppWhileReading || memberships.managedGroups.isEmpty ? [:] : app.memberships(ofUsers: keys, in: memberships.managedGroups)
            for (id, snapshot) in chunk {
                decided.insert(Digest(id))
                vanishedKeys.insert(snapshot.key)
                let userState = UserState(id: id, directory: nil, snapshot: snapshot, app: appUsers[snapshot.key],
                                          appGroups: groups[snapshot.key] ?? [])
                let plan = try UserEvaluation.evaluate(userState, policy: policy, memberships: memberships)
                record(plan, id: id)
                if plan.deactivated == false, policy.autoDeactivate, let appUser = appUsers[snapshot.key], appUser.managed, !appUser.active {
                    // Deactivated by an earlier run that died before its commit (I1).
                    deactivationMarks[snapshot.key] = true
                }
                stagedBatch.append((id, nil))
            }
        }
        if since == nil { try findManagedUsersOutsideScope() }
    }

    /// Snapshot users a complete read no longer finds: on a full run, those not read; on
    /// an incremental run with `deletions: every-run`, those an id-only listing of the
    /// scope no longer finds.
    private func unlistedUserIDs(_ connection: LDAPConnection, state: SyncState, since: Timestamp?) throws -> [[UInt8]] {
        var present: Set<Digest>?
        if since == nil {
            // A full run read every user in scope: the decided ones are present.
            present = []
        } else if directory.deletions == .everyRun {
            CrashPoint.reach("before-deletion-listing")
            var refused: String?
            if try offersContentSync(connection) {
                if let stored = contentSyncCookie {
                    switch try contentSyncGoneIDs(connection, state: state, stored: stored) {
                    case .gone(let ids): return ids
                    case .unusable(let reason): refused = reason
                    }
                }
                // The listing below finds what is gone now; the cookie, taken first, lets
                // the next refresh name what goes after.
                takeContentSyncCookie(connection)
            }
            summary.deletionListing = "paged search" + (refused.map { " (content sync: \($0))" } ?? "")
            var listed: Set<Digest> = []
            let request = SearchRequest(base: directory.users.base, scope: searchScope(directory.users.scope),
                                        filter: directory.users.filter,
                                        attributes: [directory.users.id.description, directory.users.key.description],
                                        pageSize: directory.pageSize)
            var listing = PhaseProgress(progress, directory: directory.name, phase: .listingForDeletions)
            defer { listing.finish() }
            try connection.search(request) { entry in
                listing.advance()
                if let id = entry.values(of: directory.users.id)?.first, !id.isEmpty {
                    listed.insert(Digest(id))
                } else if let key = entry.values(of: directory.users.key)?.first.flatMap({ String(validating: $0, as: UTF8.self) }),
                          keysWithoutID.insert(key).inserted {
                    fail(.entryInvalid, id: nil, key: key, dn: entry.dn,
                         "the entry has no \(directory.users.id) (the id attribute); its app user is kept as it is, not deactivated")
                }
            }
            present = listed
            summary.listedForDeletions = listed.count
        }
        guard let present else { return [] }
        var goneIDs: [[UInt8]] = []
        try state.forEachUserID(directory.name) { id in
            let digest = Digest(id)
            guard !present.contains(digest) else { return }
            if !isDecided(digest) {
                goneIDs.append(id)
            } else if since != nil {
                // Listed: read by this run, gone since. The next listing must find it
                // gone, which a refresh from a cookie taken after its deletion would not.
                // (A full run's cookie is from before its read.)
                contentSyncCookie = nil
            }
        }
        return goneIDs
    }

    // MARK: Content synchronization (deletions: every-run, RFC 4533)

    /// The search a cookie belongs to: a cookie is used only with the same server and scope.
    private var contentSyncSearch: String {
        "\(directory.url)\n\(directory.users.base)\n\(directory.users.scope)\n\(directory.users.filter)"
    }

    /// Whether `deletions: every-run` can list through content-synchronization refreshes:
    /// the id attribute is `entryUUID` (the UUID the refresh names) and the root DSE
    /// offers the Sync Request control (OpenLDAP's `syncprov` overlay).
    private func offersContentSync(_ connection: LDAPConnection) throws -> Bool {
        if let contentSyncOffered { return contentSyncOffered }
        var offered = false
        if directory.deletions == .everyRun, directory.users.id.folded == "entryuuid" {
            offered = try rootDSE(connection).supportedControls.contains(ContentSync.requestControl)
        }
        contentSyncOffered = offered
        return offered
    }

    /// Takes a cookie for the scope as it is now from a refresh of the base entry alone
    /// (OpenLDAP's cookie is the database's contextCSN, whatever the search). Without one
    /// the next run lists the scope page by page again, so a failure is a warning.
    private func takeContentSyncCookie(_ connection: LDAPConnection) {
        contentSyncCookie = nil
        do {
            let refresh = try connection.contentSyncRefresh(base: directory.users.base, scope: .base, filter: "(objectClass=*)",
                                                            cookie: nil) { _, _ in }
            if let cookie = refresh.cookie { contentSyncCookie = ContentSyncCookie(search: contentSyncSearch, cookie: cookie) }
        } catch {
            logger.warning("deletions: no content-sync cookie for the next run (it lists the scope page by page): \(error)",
                           metadata: ["ldap.dn": "\(directory.users.base)"])
        }
    }

    private enum ContentSyncOutcome {
        case gone([[UInt8]])
        /// Why the refresh cannot stand for a listing this run.
        case unusable(String)
    }

    /// Users gone from the scope, from a refresh from the stored cookie. A present phase
    /// names every entry of the scope, like the listing: the snapshot users it does not
    /// name are gone. A delete phase (the server's session log) names only the entries
    /// deleted, moved out of the scope or no longer matching the filter since the cookie;
    /// with those go the users read again by id and not found.
    private func contentSyncGoneIDs(_ connection: LDAPConnection, state: SyncState, stored: ContentSyncCookie) throws -> ContentSyncOutcome {
        // The refresh names UUIDs; the snapshot must hold them in the text form they are
        // turned into, or every user would look gone.
        guard let first = try state.firstUserID(directory.name) else { return .gone([]) }
        guard ContentSync.isUUIDText(first) else { return .unusable("the snapshot's ids are not lowercase entryUUID text") }
        var named: Set<Digest> = []
        var deleted: [[UInt8]] = []
        var listing = PhaseProgress(progress, directory: directory.name, phase: .listingForDeletions)
        defer { listing.finish() }
        let refresh: ContentSyncRefresh
        do {
            refresh = try connection.contentSyncRefresh(base: directory.users.base, scope: searchScope(directory.users.scope),
                                                        filter: directory.users.filter, cookie: stored.cookie) { mention, uuid in
                listing.advance()
                switch mention {
                case .present, .changed: named.insert(Digest(ContentSync.uuidText(uuid)))
                case .deleted: deleted.append(ContentSync.uuidText(uuid))
                }
            }
        } catch let error as LDAPError where Self.meansRefreshRefused(error.code) {
            logger.notice("deletions: the content-sync refresh was refused, the scope is listed page by page: \(error)")
            return .unusable("\(error.code)")
        }
        var gone: [[UInt8]] = []
        var goneDigests: Set<Digest> = []
        var readSinceGone = false
        func consider(_ id: [UInt8]) {
            let digest = Digest(id)
            if isDecided(digest) {
                readSinceGone = true
            } else if goneDigests.insert(digest).inserted {
                gone.append(id)
            }
        }
        if refresh.namesEveryEntry {
            var otherForm = false
            try state.forEachUserID(directory.name) { id in
                guard !named.contains(Digest(id)) else { return }
                if !ContentSync.isUUIDText(id) { otherForm = true }
                consider(id)
            }
            if otherForm { return .unusable("the snapshot's ids are not all lowercase entryUUID text") }
            summary.listedForDeletions = named.count
            summary.deletionListing = "content sync (present phase)"
        } else {
            for id in deleted { consider(id) }
            for id in rereadMissing { consider(id) }
            summary.deletionListing = "content sync (delete phase)"
        }
        // A user read by this run and gone since is decided already: keep the old cookie,
        // so the next refresh names it again.
        if !readSinceGone, let cookie = refresh.cookie { contentSyncCookie = ContentSyncCookie(search: contentSyncSearch, cookie: cookie) }
        logger.debug("deletions: content-sync refresh", metadata: [
            "ldap.dn": "\(directory.users.base)", "sync.named": "\(named.count)", "sync.deleted": "\(deleted.count)",
            "sync.idSets": "\(refresh.idSets)", "sync.gone": "\(gone.count)",
        ])
        return .gone(gone)
    }

    /// Answers that mean the server will not serve this refresh (limits, access, a cookie
    /// it cannot use, sync messages this client cannot read): the scope is listed page by
    /// page instead. Any other error (a lost connection, a time limit) fails the run as a
    /// failed listing would.
    static func meansRefreshRefused(_ code: LDAPResultCode) -> Bool {
        [ContentSync.refreshRequired, .sizeLimitExceeded, .adminLimitExceeded, .unwillingToPerform,
         .insufficientAccessRights, .unavailableCriticalExtension, .protocolError, .controlNotFound,
         .decodingError].contains(code)
    }

    /// Active Directory's Show Deleted control (LDAP_SERVER_SHOW_DELETED_OID).
    static let showDeletedControl = "1.2.840.113556.1.4.417"

    /// `deletions: tombstones`: the ids of users deleted since `since`, read from their
    /// tombstones (AD keeps a deleted object's `objectGUID` in `CN=Deleted Objects`) with
    /// the Show Deleted control, `(isDeleted=TRUE)` and the timestamp bound of SPEC I2.
    /// The read costs in proportion to the deletions, with no listing of the scope. It is
    /// paged and complete like every search: an error is an error, never a short list (I5).
    /// Ids the snapshot does not hold (deleted groups, computers, users never synced) are
    /// ignored by the caller.
    private func deletedUserIDs(_ connection: LDAPConnection, base: String, since: Timestamp) throws -> [[UInt8]] {
        let filter = Filter.and([.equality("isDeleted", "TRUE"), .greaterOrEqual(directory.timestamp.attribute, pattern.format(since))])
        // isDeleted and name are asked for by name: some servers return deleted objects only
        // then (Samba 4.17 returns them for any attribute list).
        let request = SearchRequest(base: base, scope: .subtree, filter: filter,
                                    attributes: [directory.users.id.description, "isDeleted", "name", directory.timestamp.attribute.description],
                                    pageSize: directory.pageSize,
                                    controls: [LDAPControlRequest(oid: Self.showDeletedControl, isCritical: true)])
        var deleted: [[UInt8]] = []
        var listing = PhaseProgress(progress, directory: directory.name, phase: .listingForDeletions)
        defer { listing.finish() }
        try connection.search(request) { entry in
            listing.advance()
            summary.tombstonesRead += 1
            noteTimestamp(entry, dn: entry.dn)
            if let id = entry.values(of: directory.users.id)?.first, !isDecided(Digest(id)) { deleted.append(id) }
        }
        logger.debug("deletions: tombstones read", metadata: ["ldap.dn": "\(base)", "sync.tombstones": "\(summary.tombstonesRead)"])
        return deleted
    }

    /// The naming context (the domain) holding `users.base`, whose `CN=Deleted Objects`
    /// holds the scope's tombstones.
    private func namingContext(_ connection: LDAPConnection) throws -> String {
        let root = try rootDSE(connection)
        let usersBase: String
        do { usersBase = try DNKey.make(directory.users.base) } catch {
            throw RunError.configuration("directories.\(directory.name).users.base: \(error)")
        }
        guard let context = Self.namingContext(containing: usersBase, root: root) else {
            throw RunError.configuration("directories.\(directory.name).deletions: tombstones: no naming context of the server (\(root.namingContexts.joined(separator: "; "))) contains users.base \(directory.users.base); is this Active Directory?")
        }
        return context
    }

    /// The longest naming context of the root DSE that holds `usersBase` (a ``DNKey``).
    static func namingContext(containing usersBase: String, root: RootDSE) -> String? {
        var best: (dn: String, key: String)?
        for context in root.namingContexts + [root.defaultNamingContext].compactMap({ $0 }) {
            guard let key = try? DNKey.make(context), !key.isEmpty,
                  usersBase == key || usersBase.hasSuffix("," + key) else { continue }
            if best == nil || key.count > best!.key.count { best = (context, key) }
        }
        return best?.dn
    }

    /// `deletions: tombstones`: users that left the scope without being deleted (moved to
    /// another OU, or no longer matching the filter) carry a new timestamp too. The
    /// snapshot users changed since `since` anywhere in the naming context and not read
    /// in scope by this run are read again by id in the scope (a change made after the
    /// incremental read is no departure); those still not found have left it.
    private func movedOutUserIDs(_ connection: LDAPConnection, state: SyncState, base: String, since: Timestamp) throws -> [[UInt8]] {
        var changed: [[UInt8]] = []
        let request = SearchRequest(base: base, scope: .subtree,
                                    filter: Filter.greaterOrEqual(directory.timestamp.attribute, pattern.format(since)),
                                    attributes: [directory.users.id.description], pageSize: directory.pageSize)
        try connection.search(request) { entry in
            if let id = entry.values(of: directory.users.id)?.first, !isDecided(Digest(id)) { changed.append(id) }
        }
        var candidates: [[UInt8]] = []
        for start in stride(from: 0, to: changed.count, by: 1000) {
            let chunk = Array(changed[start..<min(start + 1000, changed.count)])
            let known = try state.users(directory.name, ids: chunk)
            candidates += chunk.filter { known[$0] != nil }
        }
        try reread(connection, ids: candidates)
        return candidates.filter { !isDecided(Digest($0)) }
    }

    /// On a full run: managed app users whose key no LDAP user in scope has (for example
    /// after the state directory was lost) are gone from LDAP too.
    private func findManagedUsersOutsideScope() throws {
        // Written while reading: the store was empty at the start (no managed user).
        guard !writesAppWhileReading else { return }
        var orphans: [AppUser] = []
        try app.forEachManagedUser { user in
            if !isInScope(Digest(user.key)), !vanishedKeys.contains(user.key) { orphans.append(user) }
        }
        let known = Set(orphans.map(\.key))
        guard !known.isEmpty else { return }
        let groups = try memberships.managedGroups.isEmpty ? [:] : app.memberships(ofUsers: Array(known), in: memberships.managedGroups)
        for user in orphans {
            let userState = UserState(id: [], directory: nil, snapshot: nil, app: user, appGroups: groups[user.key] ?? [])
            let plan = try UserEvaluation.evaluate(userState, policy: policy, memberships: memberships)
            record(plan, id: [])
        }
    }

    /// Writes the collected LDAP-side changes (`plan --ldif FILE`); with none, the file
    /// is written empty so that `ldapmodify -f FILE` does nothing.
    private func writeLDIF() throws {
        guard let path = options.ldifPath else { return }
        do {
            try ldif.write(toFile: path)
        } catch {
            throw RunError.configuration("--ldif \(path): \(error)")
        }
        output("\(directory.name): the LDAP-side changes are in \(path) (ldapmodify -f \(path) would apply them)")
    }

    // MARK: Audit (SPEC §11, I8)

    private func appendAudit(_ record: AuditRecord) {
        guard let audit else { return }
        do { try audit.append(record) } catch { auditFailure = error }
    }

    /// A failed audit write fails the run before the state commit: I8 allows no write
    /// without its audit line.
    private var auditFailure: AuditLogError?

    private func flushAudit() throws {
        if let auditFailure { throw RunError.stateStore("audit log \(configuration.audit.path): \(auditFailure)") }
        do { try audit?.flush() } catch { throw RunError.stateStore("audit log \(configuration.audit.path): \(error)") }
    }

    /// The file a first run's audit lines are written ahead to while it reads
    /// (``EarlyAppApply``): in the staging directory, removed at the end of the run.
    private var auditAheadPath: String { configuration.statePath + "/staging/audit-ahead.jsonl" }

    /// The audit lines of a first run's app changes, written ahead by the app
    /// transaction's thread; nil (they are written after the transaction, from the staging
    /// area) without an audit log or when the file cannot be made.
    private func auditAhead() -> EarlyAppApply.AuditAhead? {
        guard audit != nil else { return nil }
        // Left by a run that died: its lines were never appended.
        unlink(auditAheadPath)
        do {
            let log = try AuditLog(path: auditAheadPath)
            let lines = AppChangeAudit(policy: policy, runID: runID, directory: directory.name, outcome: .success, message: nil)
            return EarlyAppApply.AuditAhead(lines: lines, log: log)
        } catch {
            logger.debug("the audit lines are written after the app transaction", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// One line per app change of the run (read back from the staging area), with the
    /// transaction's outcome (``AppChangeAudit``).
    private func auditAppChanges(_ state: SyncState, outcome: AuditRecord.Outcome, message: String?) throws {
        guard let audit else { return }
        var lines = AppChangeAudit(policy: policy, runID: runID, directory: directory.name, outcome: outcome, message: message)
        var sequence: UInt64 = 0
        while let changes = try state.stagedAppChanges(directory.name, sequence: sequence) {
            sequence += 1
            if sequence % 20 == 0 { state.releaseMappedPages() }
            lines.append(changes, time: wallClock(), to: audit) { auditFailure = $0 }
        }
    }

    private func auditLDAP(_ write: LDAPWrite, outcome: AuditRecord.Outcome, code: Int32?, message: String?) {
        let attributes = write.changes.map { change in
            AuditAttribute(name: change.attribute.description, old: [change.old], new: [change.new],
                           sensitive: policy.attributes.first { $0.ldap == change.attribute }?.sensitive ?? false)
        }
        appendAudit(AuditRecord(time: wallClock(), runID: runID, side: .ldap, operation: "modify", directory: directory.name,
                                key: write.key, dn: write.dn, attributes: attributes, outcome: outcome, resultCode: code, message: message))
    }

    // MARK: Write-back (SPEC §8)

    /// Sends the write-back changes with the write principal, several in flight; each
    /// failure is classified, reported, and its entry kept for a retry (I3) with its old
    /// snapshot, so the edit is merged again next run.
    private func writeBack() throws {
        guard !ldapWrites.isEmpty, let state else { return }
        let connection: LDAPConnection
        do {
            if let writeBind = directory.writeBind {
                connection = try DirectorySession.connect(directory, configurationFile: configuration.sourcePath, logger: logger, as: writeBind)
            } else if let readConnection {
                connection = readConnection
            } else {
                return
            }
        } catch {
            for write in ldapWrites {
                failWrite(write, .writeFailed, "WRITE_FAILED: the write principal cannot bind: \(error)")
                auditLDAP(write, outcome: .failure, code: nil, message: "the write principal cannot bind: \(error)")
            }
            try restorePrevious(ldapWrites, state)
            return
        }
        // A second connection for many writes (ParallelWrites); without it, one does all.
        var connections = [connection]
        if ldapWrites.count >= ParallelWrites.parallelFrom {
            do {
                connections.append(try DirectorySession.connect(directory, configurationFile: configuration.sourcePath, logger: logger,
                                                                as: directory.writeBind))
            } catch {
                logger.notice("write-back over one connection: a second one could not bind", metadata: ["error": "\(error)"])
            }
        }
        var remaining = ldapWrites
        var failed: [LDAPWrite] = []
        var writing = PhaseProgress(progress, directory: directory.name, phase: .writingBack, total: ldapWrites.count)
        defer { writing.finish() }
        for attempt in 0..<3 {
            var transient: [LDAPWrite] = []
            let operations = remaining.map { WriteOperation.modify(dn: $0.dn, modifications: modifications($0.changes)) }
            let outcomes = ParallelWrites.send(operations, over: connections)
            for (index, result) in outcomes.enumerated() {
                let write = remaining[index]
                switch result {
                case .success:
                    writing.advance()
                    summary.writtenBack += 1
                    auditLDAP(write, outcome: .success, code: 0, message: nil)
                case .failure(let error):
                    let kind = Self.classify(error.code)
                    auditLDAP(write, outcome: .failure, code: error.code.rawValue, message: "\(kind): \(error.diagnostic ?? error.code.message)")
                    if kind == .transient, attempt < 2 {
                        transient.append(write)
                    } else {
                        writing.advance()
                        failWrite(write, kind, "\(kind): \(error)")
                        failed.append(write)
                    }
                }
            }
            guard !transient.isEmpty else { break }
            usleep(UInt32(500_000 << attempt))
            for connection in connections where !connection.isAlive { try? connection.reconnect() }
            remaining = transient
        }
        try restorePrevious(failed, state)
    }

    private func failWrite(_ write: LDAPWrite, _ kind: FailureKind, _ message: String) {
        fail(kind, id: write.id, key: write.key, dn: write.dn, message)
    }

    private func restorePrevious(_ writes: [LDAPWrite], _ state: SyncState) throws {
        guard !writes.isEmpty else { return }
        try state.stage(directory.name, users: writes.map { write in
            (write.id, write.agreed.keepingAgreed(Set(write.changes.map(\.attribute)), from: write.previous))
        })
    }

    private func modifications(_ changes: [LDAPAttributeChange]) -> [Modification] {
        changes.flatMap { change -> [Modification] in
            if let replace = change.replace { return [Modification(.replace, change.attribute, values: replace)] }
            var result: [Modification] = []
            if !change.delete.isEmpty { result.append(Modification(.delete, change.attribute, values: change.delete)) }
            if !change.add.isEmpty { result.append(Modification(.add, change.attribute, values: change.add)) }
            return result
        }
    }

    /// SPEC §8's error classes.
    static func classify(_ code: LDAPResultCode) -> FailureKind {
        switch code {
        case .insufficientAccessRights, .unwillingToPerform: .writeFailed
        case .objectClassViolation, .undefinedAttributeType, .invalidAttributeSyntax, .constraintViolation: .schemaViolation
        case .noSuchObject: .entryGone
        case .busy, .unavailable, .serverDown, .timeout, .connectError: .transient
        default: .writeFailed
        }
    }

    // MARK: Safety (SPEC §3 safety)

    private func checkSafetyLimits() throws {
        guard !options.force else { return }
        // Written while reading: the store was empty at the start.
        let managed = writesAppWhileReading ? 0 : try app.managedUserCount()
        let limits = configuration.safety
        let allowedDeactivations = limits.maxDeactivations.allowed(outOf: managed)
        if summary.deactivated > allowedDeactivations {
            try state?.discardStaged(directory.name)
            throw RunError.safetyLimit("directory \(directory.name): \(summary.deactivated) of \(managed) managed users would be deactivated, more than maxDeactivations allows (\(allowedDeactivations)); nothing was written. Check the directory, then run with --force to apply")
        }
        let removals = usersLosingMemberships
        let allowedRemovals = limits.maxGroupRemovals.allowed(outOf: managed)
        if removals > allowedRemovals {
            try state?.discardStaged(directory.name)
            throw RunError.safetyLimit("directory \(directory.name): \(removals) of \(managed) managed users would lose group memberships, more than maxGroupRemovals allows (\(allowedRemovals)); nothing was written. Check the directory, then run with --force to apply")
        }
    }

    // MARK: Plan output

    private func printPlan(_ plan: UserPlan) {
        guard plan.writes || plan.action == .skippedUntagged || !plan.pending.isEmpty || !plan.conflicts.isEmpty else { return }
        let dn = plan.dn.map { " (\($0))" } ?? ""
        switch plan.action {
        case .create: output("+ \(plan.key)\(dn)")
        case .vanished: output("- \(plan.key)\(dn)\(plan.deactivated ? " deactivate" : "")")
        case .skippedUntagged: output("  \(plan.key)\(dn): skipped, the app user is not tagged as managed")
        case .update, .leftMappedGroups, .none: output("~ \(plan.key)\(dn)")
        }
        if let from = plan.renamedFrom { output("    key: \(from.debugDescription) → \(plan.key.debugDescription)") }
        if plan.adopted { output("    adopted: tagged as managed") }
        let reset = plan.activeReset ? " (app edit reset: the directory account is \(plan.reactivated ? "enabled" : "disabled"))" : ""
        if plan.reactivated { output("    active: 0 → 1\(reset)") }
        for change in plan.attributeChanges {
            output("    \(change.attribute): \(change.old) → \(change.new)\(change.isReset ? " (app edit reset: LDAP is authoritative)" : "")")
        }
        for change in plan.ldapChanges {
            output("    LDAP \(change.attribute): \(change.old) → \(change.new)\(change.isReset ? " (LDAP edit reset: the app is authoritative)" : "")")
        }
        for pending in plan.pending { output("    \(pending.attribute): app edit pending, not written to LDAP (\(pending.reason))") }
        for conflict in plan.conflicts {
            let outcome = conflict.ldapWon.map { $0 ? "LDAP's value kept" : "the app's value kept" } ?? "manual: nothing written until resolved"
            output("    \(conflict.attribute): conflict, LDAP \(conflict.ldap) vs app \(conflict.app): \(outcome)")
        }
        for group in plan.addedGroups { output("    + group \(group)") }
        for group in plan.removedGroups { output("    - group \(group)") }
        if plan.deactivated, plan.action != .vanished { output("    active: 1 → 0\(reset)") }
    }

    private func printPlanCounts() {
        output("\(directory.name): \(summary.created) to create, \(summary.updated) to update, \(summary.deactivated) to deactivate, "
               + "\(summary.membershipsAdded) memberships to add, \(summary.membershipsRemoved) to remove, "
               + "\(summary.skippedUntagged) skipped (untagged), \(summary.failures.count) failures; nothing was written")
    }

    private func searchScope(_ setting: ScopeSetting) -> SearchScope {
        switch setting {
        case .base: .base
        case .one: .oneLevel
        case .sub: .subtree
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Test-only points (SPEC I1 and I5 tests), honoured in debug builds only:
/// `LDAPSYNC_CRASH_AT=NAME` kills the process with SIGKILL when the run reaches the point
/// NAME; `LDAPSYNC_STALL_AT=NAME` waits 3 seconds there (creating the file
/// `LDAPSYNC_STALL_MARKER` names, if set, as it starts), so a test can stop the server
/// mid-run. Points: `mid-user-fetch` (after the first page of users), `before-deletion-listing`,
/// `before-app-apply`, `after-app-commit`, `after-ldap-writes`, `mid-state-commit` (the
/// snapshots committed, the cursor not yet).
enum CrashPoint {
    static func reach(_ name: String) {
        #if DEBUG
        if let wanted = getenv("LDAPSYNC_CRASH_AT"), String(cString: wanted) == name {
            kill(getpid(), SIGKILL)
        }
        if let wanted = getenv("LDAPSYNC_STALL_AT"), String(cString: wanted) == name {
            // LDAPSYNC_STALL_MARKER=PATH: created when the stall starts, for the test to wait on.
            if let marker = getenv("LDAPSYNC_STALL_MARKER") { close(open(marker, O_WRONLY | O_CREAT, 0o600)) }
            sleep(3)
        }
        #endif
    }
}
