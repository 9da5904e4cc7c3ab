import Glibc

/// Reads a file as `\n`-terminated lines in bounded memory.
struct LineReader {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var chunk: [UInt8] = []
    private var start = 0
    private var atEnd = false
    /// Byte offset in the file of the next line to be returned.
    private(set) var offset: UInt64 = 0
    private let chunkBytes = 1 << 20

    /// Reads from where `fd` is now, which is byte `offset` of the file.
    init(fd: Int32, offset: UInt64 = 0) {
        self.fd = fd
        self.offset = offset
    }

    enum Item {
        /// A complete line, without its newline.
        case line([UInt8])
        /// Bytes after the last newline: a write that never completed.
        case tail([UInt8], offset: UInt64)
        /// A line longer than the limit: it cannot be an entry.
        case oversized(offset: UInt64)
    }

    /// The next line, or nil at the end of the file.
    mutating func next(limit: Int) throws(LedgerError) -> Item? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<newline])
                let lineOffset = offset
                offset += UInt64(line.count + 1)
                start = newline + 1
                if line.count > limit { return .oversized(offset: lineOffset) }
                return .line(line)
            }
            if buffer.count - start > limit + 1 { return .oversized(offset: offset) }
            if atEnd {
                guard start < buffer.count else { return nil }
                let tail = Array(buffer[start...])
                start = buffer.count
                return .tail(tail, offset: offset)
            }
            try fill()
        }
    }

    private mutating func fill() throws(LedgerError) {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        if chunk.isEmpty { chunk = [UInt8](repeating: 0, count: chunkBytes) }
        let count = chunk.withUnsafeMutableBytes { readRetrying(fd, $0.baseAddress!, $0.count) }
        guard count >= 0 else { throw LedgerError(.io, "reading ledger.jsonl failed: \(errnoDescription())") }
        buffer.append(contentsOf: chunk[0..<count])
        if count == 0 { atEnd = true }
    }
}

/// read(2), retried when a signal interrupts it.
func readRetrying(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    while true {
        let result = read(fd, pointer, count)
        if result < 0 && errno == EINTR { continue }
        return result
    }
}

/// The current errno as "message (errno N)".
func errnoDescription() -> String {
    let code = errno
    return "\(String(cString: strerror(code))) (errno \(code))"
}
