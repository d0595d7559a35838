import Logging
import SyncRunner
#if canImport(Glibc)
import Glibc
#endif

/// The progress line of SPEC §9 on a terminal: where a long phase is (entries so far,
/// rate, and ETA when the total is known), redrawn in place with `\r` on stderr at most
/// four times a second, and cleared when the phase ends or anything else is printed.
/// Under cron (stderr not a terminal) there is no line at all: ``forStandardError`` is nil.
final class ProgressLine: @unchecked Sendable {
    /// The line for this process, or nil when stderr is not a terminal.
    static let forStandardError: ProgressLine? = isatty(2) == 1 ? ProgressLine() : nil

    /// Guards everything below: log handlers may clear the line from any thread.
    private var mutex = pthread_mutex_t()
    private var visible = false
    private var lastDraw = -1.0
    private var phaseKey = ""
    private var phaseStart = 0.0
    private static let interval = 0.25

    private init() {
        pthread_mutex_init(&mutex, nil)
    }

    deinit { pthread_mutex_destroy(&mutex) }

    /// Called for every entry of a phase: cheap unless a redraw is due.
    func handle(_ event: ProgressEvent) {
        locked {
            if event.finished {
                clearLocked()
                return
            }
            let now = Self.monotonic()
            let key = event.directory + "\u{0}" + event.phase.rawValue
            if key != phaseKey {
                phaseKey = key
                phaseStart = now
            } else if now - lastDraw < Self.interval {
                return
            }
            lastDraw = now
            draw(Self.text(event, elapsed: now - phaseStart))
        }
    }

    /// Removes the line (before other output, and at the end of the run).
    func clear() {
        locked { clearLocked() }
    }

    /// `corp: fetching users: 12,345 entries, 4,100/s` or, with a total,
    /// `corp: write-back: 1,200 of 5,000 (24%), 800/s, ETA 5s`.
    static func text(_ event: ProgressEvent, elapsed: Double) -> String {
        let rate = elapsed > 0.05 ? Double(event.done) / elapsed : nil
        var text = "\(event.directory): \(event.phase): "
        if let total = event.total, total > 0 {
            text += "\(grouped(event.done)) of \(grouped(total)) (\(event.done * 100 / total)%)"
        } else {
            text += "\(grouped(event.done)) entries"
        }
        if let rate, rate > 0 {
            text += ", \(grouped(Int(rate.rounded())))/s"
            if let total = event.total, total > event.done {
                text += ", ETA \(duration(Double(total - event.done) / rate))"
            }
        }
        return text
    }

    private func draw(_ text: String) {
        let width = Self.terminalWidth()
        // A wrapped line cannot be redrawn in place with \r: keep it one column short.
        let fitted = text.count >= width ? String(text.prefix(max(0, width - 1))) : text
        writeStandardError(Array(("\r\u{1B}[K" + fitted).utf8))
        visible = true
    }

    private func clearLocked() {
        guard visible else { return }
        writeStandardError(Array("\r\u{1B}[K".utf8))
        visible = false
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }

    private static func monotonic() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private static func terminalWidth() -> Int {
        var size = winsize()
        guard ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    static func grouped(_ number: Int) -> String {
        let digits = String(number)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0, character != "-" { result.append(",") }
            result.append(character)
        }
        return result
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(String(format2: total % 60))s" }
        return "\(total / 3600)h\(String(format2: total % 3600 / 60))m"
    }
}

private extension String {
    init(format2 value: Int) { self = value < 10 ? "0\(value)" : "\(value)" }
}

/// Clears the progress line before each log line, so that a log line never lands in the
/// middle of it; the next progress event draws the line again below.
struct ProgressClearingLogHandler: LogHandler {
    var inner: any LogHandler
    let line: ProgressLine

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        line.clear()
        inner.log(event: event)
    }
}
