/// Where a directory's run is in a long phase, for a progress display.
///
/// The library only reports; the executable decides whether and how to draw (a line on a
/// terminal, nothing under cron). A handler is called for every entry of a phase, on the
/// run's thread, so it must be cheap: throttle before drawing.
public struct ProgressEvent: Sendable, Equatable {
    public struct Phase: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let fetchingGroups = Phase(rawValue: "fetching groups")
        public static let fetchingUsers = Phase(rawValue: "fetching users")
        public static let listingForDeletions = Phase(rawValue: "listing for deletions")
        public static let applyingToApp = Phase(rawValue: "applying to the app")
        public static let writingBack = Phase(rawValue: "write-back")
    }

    public var directory: String
    public var phase: Phase
    /// Entries (or changes) handled so far in this phase.
    public var done: Int
    /// How many there are in all, when known before the phase ends (the app changes and
    /// the write-back operations); nil while reading from LDAP.
    public var total: Int?
    /// The phase is over: a display clears its line.
    public var finished: Bool

    public init(directory: String, phase: Phase, done: Int, total: Int? = nil, finished: Bool = false) {
        self.directory = directory
        self.phase = phase
        self.done = done
        self.total = total
        self.finished = finished
    }
}

/// Receives ``ProgressEvent``s during a run.
public typealias ProgressHandler = (ProgressEvent) -> Void

/// Counts one phase's entries and reports them to the handler, if there is one.
struct PhaseProgress {
    private let handler: ProgressHandler?
    private let directory: String
    private let phase: ProgressEvent.Phase
    private let total: Int?
    private(set) var done = 0

    init(_ handler: ProgressHandler?, directory: String, phase: ProgressEvent.Phase, total: Int? = nil) {
        self.handler = handler
        self.directory = directory
        self.phase = phase
        self.total = total
        handler?(ProgressEvent(directory: directory, phase: phase, done: 0, total: total))
    }

    mutating func advance(by count: Int = 1) {
        done += count
        handler?(ProgressEvent(directory: directory, phase: phase, done: done, total: total))
    }

    func finish() {
        handler?(ProgressEvent(directory: directory, phase: phase, done: done, total: total, finished: true))
    }
}
