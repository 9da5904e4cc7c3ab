import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// A ledger kept in PostgreSQL: one row per entry in `backstop_entries`, keyed by (fund id,
/// seq), holding the exact line bytes and the entry hash (``PostgresSchema``).
///
/// The database refuses by itself what would break the chain: a second entry at a sequence
/// number (primary key), an entry whose `prev` is not the previous entry's hash, a hash that
/// is not the line's, and any UPDATE, DELETE or TRUNCATE (triggers). An append is one
/// transaction that first checks the expected head, so two writers on two machines never
/// fork the chain: one commits, the other gets ``LedgerError/Code/headMoved``. It returns
/// once PostgreSQL has committed, which with `synchronous_commit = on` and
/// `synchronous_standby_names` set means a synchronous standby has the entries too.
///
/// The calls block the calling thread (the command line is synchronous); the connection runs
/// on its own event loop thread.
public final class PostgresStorage: LedgerStorage {
    /// Where the database is and which fund: parsed from
    /// `postgres://USER@HOST:PORT/DATABASE?fund=HEX&password-file=PATH`.
    public struct Address: Sendable, Equatable {
        /// The user to connect as.
        public let user: String
        /// The server's host name or address.
        public let host: String
        /// Its port (default 5432).
        public let port: Int
        /// The database.
        public let database: String
        /// The fund, when the URL names one (`?fund=` with the 64-hex-digit fund id).
        public let fund: [UInt8]?
        /// A file holding the password (`?password-file=`), read when connecting.
        public let passwordFile: String?

        /// Whether `text` is a PostgreSQL URL (and not a folder).
        public static func isURL(_ text: String) -> Bool { StorageURL.isDatabase(text) }

        /// Parses a URL, refusing one with a password in it (a command line is visible to
        /// every user of the machine).
        ///
        /// - Throws: ``LedgerError`` `.notFound` naming what is wrong.
        public init(url text: String) throws {
            func bad(_ why: String) -> LedgerError { LedgerError(.notFound, "--ledger \(SafeText.sanitize(StorageURL.redacted(text))): \(why)") }
            // Checked on the text first: a password holding '#', '?' or '/' is misread by a
            // URL parser, and must be refused all the same.
            guard !StorageURL.hasPassword(text) else {
                throw bad("a password on the command line is visible to every user of this machine; give it in PGPASSWORD or ?password-file=PATH")
            }
            guard Self.isURL(text), let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
                throw bad("expected postgres://USER@HOST:PORT/DATABASE")
            }
            guard let user = url.user, !user.isEmpty else { throw bad("name the user: postgres://USER@HOST:PORT/DATABASE") }
            let database = String(url.path.dropFirst())
            guard !database.isEmpty, !database.contains("/") else { throw bad("name the database: postgres://USER@HOST:PORT/DATABASE") }
            var fund: [UInt8]? = nil, passwordFile: String? = nil
            for item in url.queryItems ?? [] {
                switch item.name {
                case "fund":
                    guard let value = item.value, let id = Hex.decode(value), id.count == 32 else { throw bad("fund= must be a fund id, 64 hex digits") }
                    fund = id
                case "password-file":
                    guard let value = item.value, !value.isEmpty else { throw bad("password-file= needs a path") }
                    passwordFile = value
                default:
                    throw bad("unknown parameter \(SafeText.quoted(item.name)) (known: fund, password-file)")
                }
            }
            self.user = user
            self.host = host
            self.port = url.port ?? 5432
            self.database = database
            self.fund = fund
            self.passwordFile = passwordFile
        }

        /// The URL as shown to people: never a password.
        public var display: String {
            "postgres://\(user)@\(host):\(port)/\(database)" + (fund.map { "?fund=\(Hex.encode($0))" } ?? "")
        }
    }

    /// The address it is connected to.
    public let address: Address
    private let connection: PostgresConnection
    private let logger: Logger
    /// The fund's id; nil while the database holds no entry 0 for it yet.
    public private(set) var fundId: [UInt8]?
    private var writing: Bool

    /// `postgres://USER@HOST:PORT/DATABASE`, with the fund once known.
    public var location: String {
        "postgres://\(address.user)@\(address.host):\(address.port)/\(address.database)" + (fundId.map { "?fund=\(Hex.encode($0))" } ?? "")
    }

    /// Connects, creating the schema when `createSchema` (idempotent), and picks the fund:
    /// the one the URL names, else the only one in the database, else none yet (a new
    /// ledger's entry 0 names it).
    ///
    /// - Parameters:
    ///   - forWriting: take the fund's writer lock (a session advisory lock), waiting up to
    ///     `lockWaitSeconds` for another writer.
    ///   - environment: where `PGPASSWORD` is read from.
    /// - Throws: ``LedgerError`` `.unavailable` (one line: what failed and where),
    ///   `.locked`, or `.notFound` when the database holds several funds and the URL names
    ///   none.
    ///   - exclusive: with `forWriting`, whether to take the writer lock. Without it,
    ///     writers race and the database's conditional appends decide (one commits, the
    ///     others get `.headMoved`): for load tests and for showing that no fork can result.
    public init(address: Address, forWriting: Bool, createSchema: Bool = false, lockWaitSeconds: Double = 0, exclusive: Bool = true,
                queryTimeoutSeconds: Int = 30, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.address = address
        self.queryTimeoutSeconds = max(1, queryTimeoutSeconds)
        self.logger = Logger(label: "backstop.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        let password: String?
        if let file = address.passwordFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw LedgerError(.notFound, "cannot read the password file \(SafeText.quoted(file))")
            }
            // Its first line.
            password = String(decoding: data, as: UTF8.self).split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first
                .map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\r")) } ?? ""

        } else {
            password = environment["PGPASSWORD"]
        }
        var configuration = PostgresConnection.Configuration(host: address.host, port: address.port, username: address.user,
                                                             password: password, database: address.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(10)
        do {
            connection = try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                                                        id: 1, logger: logger).wait()
        } catch {
            throw LedgerError(.unavailable, "cannot connect to \(address.display): \(Self.describe(error))")
        }
        writing = false
        fundId = address.fund
        do {
            if createSchema { try applySchema() }
            if forWriting { try refuseUndurableCommits() }
            // The lock first: a writer that waited for another one (perhaps creating the
            // fund) must see what that one wrote.
            if forWriting && exclusive { try lockWriter(waitSeconds: lockWaitSeconds) }
            if forWriting && !exclusive { writing = true }
            if fundId == nil { fundId = try onlyFund() }
        } catch {
            try? connection.close().wait()
            throw error
        }
    }

    /// Connects to `url` (see ``init(address:forWriting:createSchema:lockWaitSeconds:environment:)``).
    public convenience init(url: String, forWriting: Bool, createSchema: Bool = false, lockWaitSeconds: Double = 0, exclusive: Bool = true,
                            queryTimeoutSeconds: Int = 30) throws {
        try self.init(address: try Address(url: url), forWriting: forWriting, createSchema: createSchema, lockWaitSeconds: lockWaitSeconds, exclusive: exclusive,
                      queryTimeoutSeconds: queryTimeoutSeconds)
    }

    deinit { close() }

    /// Ends the session: the writer lock goes with it.
    public func close() {
        guard !connection.isClosed else { return }
        try? connection.close().wait()
        writing = false
    }

    // MARK: LedgerStorage

    /// The last stored entry of the fund.
    public func storedHead() throws -> StoredHead {
        guard let fundId else { return .empty }
        let rows = try run("SELECT seq, hash FROM public.backstop_entries WHERE fund = \(Data(fundId)) ORDER BY seq DESC LIMIT 1")
        guard let row = rows.first else { return .empty }
        let (seq, hash) = try row.decode((Int64, Data).self)
        return StoredHead(count: seq + 1, hash: Array(hash))
    }

    /// Up to `count` lines from entry `seq`.
    public func lines(from seq: Int64, count: Int) throws -> [[UInt8]] {
        guard let fundId, seq >= 0, count > 0 else { return [] }
        let rows = try run("SELECT line FROM public.backstop_entries WHERE fund = \(Data(fundId)) AND seq >= \(seq) ORDER BY seq LIMIT \(Int64(count))")
        var lines: [[UInt8]] = []
        lines.reserveCapacity(rows.count)
        for row in rows { lines.append(Array(try row.decode(Data.self))) }
        return lines
    }

    /// Rows inserted per statement (PostgreSQL allows 65,535 parameters; five per row).
    static let rowsPerStatement = 10_000

    /// Appends in one transaction that first checks the head: all entries or none.
    public func append(_ entries: [PreparedEntry], expecting expected: StoredHead) throws {
        guard writing else { throw LedgerError(.io, "\(location) is not open for writing") }
        guard !entries.isEmpty else { return }
        try checkLinks(entries, after: expected)
        let fund = fundId ?? entries[0].hash
        try run("BEGIN")
        do {
            // The head, read inside the transaction. A writer that commits the same
            // sequence number meanwhile makes the insert below fail on the primary key.
            let rows = try run("SELECT seq, hash FROM public.backstop_entries WHERE fund = \(Data(fund)) ORDER BY seq DESC LIMIT 1")
            let current = try rows.first.map { row -> StoredHead in
                let (seq, hash) = try row.decode((Int64, Data).self)
                return StoredHead(count: seq + 1, hash: Array(hash))
            } ?? .empty
            guard current == expected else {
                throw LedgerError(.headMoved, "the ledger's head moved (expected \(expected), found \(current)); nothing was written")
            }
            if fundId == nil {
                // A new fund: writers starting funds at once are serialized, and one that
                // finds another fund started meanwhile stops (one fund per database unless
                // the URL names it).
                try run("SELECT pg_advisory_xact_lock(\(Self.lockClass), 2)")
                if let other = try run("SELECT fund FROM public.backstop_entries WHERE seq = 0 AND fund <> \(Data(fund)) LIMIT 1").first {
                    let id = Hex.encode(Array(try other.decode(Data.self)))
                    throw LedgerError(.headMoved, "another fund (\(id)) was started in \(address.display) meanwhile; nothing was written")
                }
            }
            for start in stride(from: 0, to: entries.count, by: Self.rowsPerStatement) {
                let chunk = entries[start..<min(entries.count, start + Self.rowsPerStatement)]
                var bindings = PostgresBindings(capacity: chunk.count * 5)
                var values: [String] = []
                for (index, prepared) in chunk.enumerated() {
                    let base = index * 5
                    values.append("($\(base + 1), $\(base + 2), $\(base + 3), $\(base + 4), $\(base + 5))")
                    try bindings.append(Data(fund))
                    bindings.append(prepared.entry.seq)
                    try bindings.append(Data(prepared.hash))
                    try bindings.append(Data(prepared.entry.prev))
                    try bindings.append(Data(prepared.line))
                }
                try run(PostgresQuery(unsafeSQL: "INSERT INTO public.backstop_entries (fund, seq, hash, prev, line) VALUES " + values.joined(separator: ", "), binds: bindings),
                        seq: chunk.first?.entry.seq)
            }
            try run("COMMIT")
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
        if fundId == nil { fundId = fund }
    }

    // MARK: Funds and locks

    /// The ids of the funds the database holds.
    public func funds() throws -> [[UInt8]] {
        try run("SELECT fund FROM public.backstop_entries WHERE seq = 0 ORDER BY fund").map { Array(try $0.decode(Data.self)) }
    }

    private func onlyFund() throws -> [UInt8]? {
        let funds = try funds()
        guard funds.count <= 1 else {
            let ids = funds.prefix(5).map { Hex.encode($0) }.joined(separator: ", ")
            throw LedgerError(.notFound, "\(address.display) holds \(funds.count) funds (\(ids)); name one with ?fund=ID")
        }
        return funds.first
    }

    /// Creates the table and triggers if missing, under a lock so that two first writers
    /// do not race.
    private func applySchema() throws {
        // A table made by an administrator (postgres.sql, applied as its owner) is left as
        // it is: the role Backstop connects as may hold only SELECT and INSERT.
        if let row = try run("SELECT to_regclass('public.backstop_entries') IS NOT NULL").first, try row.decode(Bool.self) { return }
        try run("BEGIN")
        do {
            try run("SELECT pg_advisory_xact_lock(\(Self.lockClass), 1)")
            for statement in PostgresSchema.statements { try run(PostgresQuery(unsafeSQL: statement)) }
            try run("COMMIT")
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
    }

    /// Refuses to write through a session whose commits return before they are durable
    /// (`synchronous_commit = off`, which a role can set for itself).
    private func refuseUndurableCommits() throws {
        guard let row = try run("SELECT current_setting('synchronous_commit')").first else { return }
        let setting = try row.decode(String.self)
        guard setting != "off" else {
            throw LedgerError(.unavailable, "synchronous_commit is off for this connection to \(address.display): a commit would return before it is durable; set it to on (ALTER ROLE ... RESET synchronous_commit)")
        }
    }

    /// The advisory lock class of Backstop writers ("BSTP").
    static let lockClass: Int32 = 0x4253_5450

    /// The writer lock: a session advisory lock, (class, 0), held until the connection
    /// ends. It is one per database (not per fund), so that a writer creating a fund and
    /// one opening it exclude each other too: run one fund per database.
    /// (The schema is applied under (class, 1).)
    private func lockWriter(waitSeconds: Double) throws {
        let key: Int32 = 0
        let deadline = Date().addingTimeInterval(max(0, waitSeconds))
        while true {
            let rows = try run("SELECT pg_try_advisory_lock(\(Self.lockClass), \(key))")
            if let row = rows.first, try row.decode(Bool.self) { break }
            guard Date() < deadline else {
                let waited = waitSeconds > 0 ? "waited \(waitSeconds) s" : "waited not at all"
                throw LedgerError(.locked, "the ledger in \(location) is locked by another backstop writer (\(waited); try again, or give --wait SECONDS)")
            }
            usleep(20_000)
        }
        writing = true
    }

    // MARK: Queries

    @discardableResult
    private func run(_ query: PostgresQuery, seq: Int64? = nil) throws -> [PostgresRow] {
        do {
            return try wait(connection.query(query, logger: logger)).rows
        } catch let error as LedgerError {
            throw error
        } catch let error as PSQLError {
            if let state = error.serverInfo?[.sqlState] {
                // 23505: another writer committed this sequence number first.
                if state == "23505" { throw LedgerError(.headMoved, seq: seq, "another writer appended first (\(location)); nothing was written") }
                // 23514 / 42501: the database's own chain checks or append-only rule.
                // 23514, or 42501 from the append-only trigger: the database's own checks.
                let ours = error.serverInfo?[.message]?.hasPrefix("backstop:") == true
                if state == "23514" || (state == "42501" && ours) { throw LedgerError(.invalidEntry, seq: seq, "PostgreSQL refused: \(Self.describe(error))") }
            }
            throw LedgerError(.unavailable, seq: seq, "PostgreSQL at \(address.display): \(Self.describe(error))")
        } catch {
            throw LedgerError(.unavailable, seq: seq, "PostgreSQL at \(address.display): \(Self.describe(error))")
        }
    }

    /// How long one query may take before the connection is given up (a primary that
    /// died mid-commit, a synchronous standby that never answers): 30 s unless the
    /// initializer was given another.
    public let queryTimeoutSeconds: Int

    /// The future's value, or `.unavailable` (and the connection closed) after
    /// ``queryTimeoutSeconds``: a dead server must not hang a writer.
    private func wait<Value: Sendable>(_ future: EventLoopFuture<Value>) throws -> Value {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: Result<Value, any Error>? = nil
        future.whenComplete { result in
            outcome = result
            done.signal()
        }
        guard done.wait(timeout: .now() + .seconds(queryTimeoutSeconds)) == .success, let outcome else {
            connection.close().whenComplete { _ in }
            throw LedgerError(.unavailable, "PostgreSQL at \(address.display) did not answer within \(queryTimeoutSeconds) s; the connection was closed (whether the last append committed is unknown until the ledger is read again)")
        }
        return try outcome.get()
    }

    /// One line for a connection or query error.
    static func describe(_ error: Error) -> String {
        guard let error = error as? PSQLError else { return SafeText.sanitize("\(error)") }
        if let info = error.serverInfo, let message = info[.message] {
            return SafeText.sanitize("\(message)" + (info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""))
        }
        if let underlying = error.underlying { return SafeText.sanitize("\(error.code): \(underlying)") }
        return SafeText.sanitize("\(error.code)")
    }
}
