import Foundation
import SlapdSupport
#if canImport(Glibc)
import Glibc
#endif

/// The loopback addresses (127.0.0.N) of the DCs: Samba's LDAP ports are fixed (389,
/// 636, 3268, 3269), so each DC gets an address of its own instead of a port. Linux
/// routes all of 127.0.0.0/8 to `lo`, so any of them can be bound without configuring it.
enum LoopbackAddress {
    /// The TCP ports a DC listens on (LDAP, LDAPS, global catalog, GC over TLS, Kerberos, kpasswd).
    static let ports = [389, 636, 3268, 3269, 88, 464]

    private static let lock = NSLock()
    nonisolated(unsafe) private static var reserved: Set<UInt8> = []  // guarded by lock

    /// Picks an address whose DC ports are all free and reserves it in this process.
    ///
    /// Addresses are tried in random order from 127.0.0.2 (127.0.0.1 is left to system
    /// services) so that test processes running at the same time rarely pick the same
    /// one; the probe is not atomic with Samba's own bind, so the caller retries with
    /// another address when Samba reports the address taken.
    static func reserve(excluding tried: Set<UInt8>) -> UInt8? {
        lock.withLock {
            for last in (2...254).map({ UInt8($0) }).shuffled() where !reserved.contains(last) && !tried.contains(last) {
                if ports.allSatisfy({ canBind(last: last, port: $0) }) {
                    reserved.insert(last)
                    return last
                }
            }
            return nil
        }
    }

    static func release(_ last: UInt8) {
        lock.withLock { _ = reserved.remove(last) }
    }

    static func string(_ last: UInt8) -> String { "127.0.0.\(last)" }

    private static func address(last: UInt8, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = (UInt32(0x7F00_0000) | UInt32(last)).bigEndian
        return address
    }

    /// True when a TCP socket can bind 127.0.0.`last`:`port` now.
    private static func canBind(last: UInt8, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // As servers do: a port in TIME_WAIT from a DC stopped a moment ago is free.
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = address(last: last, port: port)
        return withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// True when process `pid` itself listens on TCP 127.0.0.`last`:`port`, read from
    /// /proc: the listening socket's inode is among the process's open descriptors.
    /// A probe by connecting could be answered by another process that holds the address.
    static func isListening(pid: pid_t, last: UInt8, port: Int) -> Bool {
        let table = readTextFile("/proc/net/tcp")
        // /proc/net/tcp writes the address as the host-order hex of the in_addr word.
        // The kernel prints the raw (network byte order) address word as a native integer.
        let wanted = String(format: "%08X:%04X", (UInt32(0x7F00_0000) | UInt32(last)).bigEndian, port)
        var inodes: [String] = []
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, fields[1] == wanted, fields[3] == "0A" else { continue }
            inodes.append(String(fields[9]))
        }
        guard !inodes.isEmpty else { return false }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        for descriptor in descriptors {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(descriptor)") else { continue }
            if inodes.contains(where: { target == "socket:[\($0)]" }) { return true }
        }
        return false
    }
}
