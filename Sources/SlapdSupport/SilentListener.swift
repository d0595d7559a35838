#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP socket that listens and never accepts: connections complete in the
/// kernel (up to the backlog) but nothing ever reads or answers them — a hung server, or
/// a firewall that lets the handshake through and drops the rest.
public final class SilentListener {
    public let port: Int
    private let descriptor: Int32

    public init(backlog: Int32) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Loopback.posixError("socket") }
        var address = Loopback.loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard bound == 0, listen(descriptor, backlog) == 0, withUnsafeMutablePointer(to: &address, {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }) == 0 else {
            let error = Loopback.posixError("listen on 127.0.0.1")
            close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }

    /// Opens one connection that fills a backlog-0 accept queue; the caller closes it.
    public func fill() throws -> Int32 {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard client >= 0 else { throw Loopback.posixError("socket") }
        var address = Loopback.loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let error = Loopback.posixError("connect to 127.0.0.1:\(port)")
            close(client)
            throw error
        }
        return client
    }
}
