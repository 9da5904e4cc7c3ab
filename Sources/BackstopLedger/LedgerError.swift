/// Every failure of the ledger store: a stable ``Code``, the entry it concerns, and a reason.
public struct LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, stable across versions.
    public enum Code: String, Sendable {
        /// A line of `ledger.jsonl` breaks the format: the ledger is corrupt or was tampered with.
        case corrupt
        /// Another process holds the ledger's write lock.
        case locked
        /// The folder holds no ledger, or already holds one.
        case notFound, alreadyExists
        /// The entry offered for appending is not acceptable (size, time, kind, signatures).
        case invalidEntry
        /// The file system refused an operation (open, write, rename...).
        case io
        /// An fsync failed. The process must stop writing: what reached the disk is unknown,
        /// and retrying could report success for data that was lost.
        case syncFailed
        /// A conditional append found the store's head moved (another writer appended
        /// first): nothing was written; read the new head and try again.
        case headMoved
        /// The store cannot be reached (a database connection failed or was refused).
        case unavailable
    }

    /// The kind of failure.
    public let code: Code
    /// The sequence number of the entry concerned, when there is one.
    public let seq: Int64?
    /// What was wrong, for people.
    public let reason: String

    /// Creates an error.
    public init(_ code: Code, seq: Int64? = nil, _ reason: String) {
        self.code = code
        self.seq = seq
        self.reason = reason
    }

    /// "entry N: reason", or the reason alone.
    public var description: String { seq.map { "entry \($0): \(reason)" } ?? reason }
}
