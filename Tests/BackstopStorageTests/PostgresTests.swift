import BackstopCrypto
import BackstopLedger
import BackstopPostgres
import BackstopTestSupport
import Foundation
import Testing

/// What only the PostgreSQL store has: the database's own checks, lock-free racing writers,
/// URLs and connection errors, and the command line through backstop-server.
@Suite("PostgreSQL store", .enabled(if: PostgresServer.testable, "PostgreSQL is not installed (apt-get install postgresql); CI installs it"))
struct PostgresTests {
    @Test("writers without the lock, racing in three processes: the database lets one commit each entry and the chain never forks")
    func racingWritersNeverFork() throws {
        let url = try PostgresServer.shared().makeDatabase()
        // Entry 0 first: writers racing to start a ledger would each start their own fund.
        let seed = try PostgresStorage(url: url, forWriting: true, createSchema: true)
        let genesis = try EntryMaker().entries(after: .empty, count: 1)
        try seed.append(genesis, expecting: .empty)
        seed.close()
        let acknowledged = try runWriters(3, [url, "30", "--race"])
        let reader = try PostgresStorage(url: url, forWriting: false)
        defer { reader.close() }
        let scan = try LedgerScan.scan(storage: reader, verifySignatures: true) { entry, hash in
            if entry.seq > 0 { #expect(acknowledged[entry.seq] == Hex.encode(hash)) }
        }
        #expect(scan.entryCount == 91 && acknowledged.count == 90)
    }

    @Test("the database itself refuses UPDATE, DELETE, TRUNCATE and rows that break the chain, whoever sends them")
    func databaseEnforcesTheChain() throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        let database = String(url.split(separator: "/").last!)
        let store = try PostgresStorage(url: url, forWriting: true, createSchema: true)
        let entries = try EntryMaker().entries(after: .empty, count: 3)
        try store.append(entries, expecting: .empty)
        store.close()
        let attempts = [
            "UPDATE backstop_entries SET line = line WHERE seq = 1",
            "DELETE FROM backstop_entries WHERE seq = 2",
            "TRUNCATE backstop_entries",
            // Entry 2 again at seq 3: its line says seq 2.
            "INSERT INTO backstop_entries SELECT fund, 3, hash, prev, line FROM backstop_entries WHERE seq = 2",
            // A hash that is not the line's.
            "INSERT INTO backstop_entries SELECT fund, seq + 1, prev, prev, line FROM backstop_entries WHERE seq = 2",
            // A second entry 1 (the primary key).
            "INSERT INTO backstop_entries SELECT fund, seq, hash, prev, line FROM backstop_entries WHERE seq = 1",
            // A line that does not link to entry 2: entry 1's line placed at 3 with its own prev.
            "INSERT INTO backstop_entries SELECT fund, 3, hash, prev, convert_to(replace(convert_from(line, 'UTF8'), '\"seq\":1,', '\"seq\":3,'), 'UTF8') FROM backstop_entries WHERE seq = 1",
        ]
        for sql in attempts {
            let result = try server.psql(database, sql)
            #expect(result.status != 0, "accepted: \(sql)")
            #expect(result.stderr.contains("ERROR"), "\(sql): \(result.stderr)")
        }
        #expect(try server.psql(database, "SELECT count(*), max(seq) FROM backstop_entries").stdout == "3|2\n")
        let reader = try PostgresStorage(url: url, forWriting: false)
        defer { reader.close() }
        #expect(try LedgerScan.scan(storage: reader, verifySignatures: true).entryCount == 3)
    }

    @Test("failover: writers append to a primary with a synchronous standby, the primary is killed (SIGKILL) and the standby promoted; every acknowledged append is on it and its chain verifies")
    func failover() throws {
        _ = try PostgresServer.shared()
        let result = try runProcess("/bin/bash", [packageRoot.appendingPathComponent("Tests/postgres/failover.sh").path, productsDirectory.path, "3", "3"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("acknowledged and missing there: 0") && result.stdout.contains("standby chain: intact"), "\(result.stdout)")
        print(result.stdout)
    }

    @Test("Docs/postgres.sql holds exactly the schema the store applies")
    func schemaIsDocumented() throws {
        let documented = try String(contentsOf: packageRoot.appendingPathComponent("Docs/postgres.sql"), encoding: .utf8)
        #expect(documented.hasSuffix(PostgresSchema.script))
        // Applied by hand, as an administrator would, it gives a database the store writes to.
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        let database = String(url.split(separator: "/").last!)
        let applied = try runProcess("/usr/bin/env", ["psql", "-h", "127.0.0.1", "-p", "\(server.port)", "-U", "backstop", "-d", database, "-v", "ON_ERROR_STOP=1", "-qf",
                                                      packageRoot.appendingPathComponent("Docs/postgres.sql").path])
        #expect(applied.status == 0, "\(applied.stderr)")
        let store = try PostgresStorage(url: url, forWriting: true, createSchema: false)
        try store.append(try EntryMaker().entries(after: .empty, count: 2), expecting: .empty)
        store.close()
        #expect(try server.psql(database, "SELECT count(*) FROM backstop_entries").stdout == "2\n")

        // A writer role with only SELECT and INSERT, as postgres.sql advises, can open and
        // append (the schema is not applied again), but not change a row.
        #expect(try server.psql(database, "CREATE ROLE fund_writer LOGIN; GRANT SELECT, INSERT ON public.backstop_entries TO fund_writer").status == 0)
        let limited = "postgres://fund_writer@127.0.0.1:\(server.port)/\(database)"
        let writer = try PostgresStorage(url: limited, forWriting: true, createSchema: true)
        let head = try writer.storedHead()
        try writer.append(try EntryMaker().entries(after: head, count: 1), expecting: head)
        writer.close()
        let update = try runProcess("/usr/bin/env", ["psql", "-h", "127.0.0.1", "-p", "\(server.port)", "-U", "fund_writer", "-d", database, "-qc", "UPDATE backstop_entries SET seq = seq"])
        #expect(update.status != 0 && update.stderr.contains("ERROR"))
    }

    @Test("two writers starting a fund in one empty database at once: one starts it, the other is told the head moved")
    func oneFundPerDatabase() throws {
        let url = try PostgresServer.shared().makeDatabase()
        let first = try PostgresStorage(url: url, forWriting: true, createSchema: true, exclusive: false)
        let second = try PostgresStorage(url: url, forWriting: true, createSchema: true, exclusive: false)
        defer { first.close(); second.close() }
        try first.append(try EntryMaker().entries(after: .empty, count: 1), expecting: .empty)
        let moved = #expect(throws: LedgerError.self) { try second.append(try EntryMaker().entries(after: .empty, count: 1), expecting: .empty) }
        #expect(moved?.code == .headMoved)
        #expect(try first.funds().count == 1)
    }

    @Test("a connection whose commits would not be durable (synchronous_commit = off) is refused for writing")
    func undurableCommitsRefused() throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        let database = String(url.split(separator: "/").last!)
        #expect(try server.psql(database, "ALTER DATABASE \(database) SET synchronous_commit = off").status == 0)
        let refused = #expect(throws: LedgerError.self) { try PostgresStorage(url: url, forWriting: true, createSchema: true) }
        #expect(refused?.code == .unavailable && refused?.reason.contains("synchronous_commit") == true)
        // Reading is fine.
        try PostgresStorage(url: url, forWriting: false).close()
    }

    @Test("ledger URLs: a password is refused and never echoed; user, database and fund are checked")
    func addresses() throws {
        let address = try PostgresStorage.Address(url: "postgres://fund@db.example:6543/ledger?fund=" + String(repeating: "ab", count: 32))
        #expect(address.user == "fund" && address.host == "db.example" && address.port == 6543 && address.database == "ledger" && address.fund?.count == 32)
        #expect(try PostgresStorage.Address(url: "postgresql://u@h/d").port == 5432)
        let withPassword = #expect(throws: LedgerError.self) { try PostgresStorage.Address(url: "postgres://fund:hunter2@db.example/ledger") }
        #expect(withPassword?.reason.contains("PGPASSWORD") == true && withPassword?.reason.contains("hunter2") == false)
        // A password a URL parser misreads (here after '#') is refused and never shown either.
        for text in ["postgres://alice:1234#s3cret@db.example/fund", "postgres://alice:p/ss@db.example/fund"] {
            let refused = #expect(throws: LedgerError.self) { try PostgresStorage.Address(url: text) }
            #expect(refused?.reason.contains("s3cret") == false && refused?.reason.contains("p/ss") == false && refused?.reason.contains("PGPASSWORD") == true, "\(String(describing: refused))")
            let cli = try runProcess(productsDirectory.appendingPathComponent("backstop").path, ["status", "--ledger", text, "--json"])
            #expect(cli.status == 2 && !cli.stderr.contains("s3cret") && !cli.stdout.contains("s3cret") && !cli.stderr.contains("p/ss"), "\(cli.stderr)")
        }
        for bad in ["postgres://db.example/ledger", "postgres://u@db.example/", "postgres://u@h/d?fund=12", "postgres://u@h/d?sslmode=disable", "postgres://"] {
            #expect(throws: LedgerError.self, "\(bad)") { try PostgresStorage.Address(url: bad) }
        }
    }

    @Test("a server that is not there, or a database that does not exist, is one clear line (.unavailable)")
    func connectionErrors() throws {
        let server = try PostgresServer.shared()
        let closed = #expect(throws: LedgerError.self) { try PostgresStorage(url: "postgres://backstop@127.0.0.1:1/none", forWriting: false) }
        #expect(closed?.code == .unavailable && closed?.reason.contains("127.0.0.1:1") == true && closed?.reason.contains("\n") == false)
        let missing = #expect(throws: LedgerError.self) { try PostgresStorage(url: server.url(database: "no_such_database"), forWriting: false) }
        #expect(missing?.code == .unavailable && missing?.reason.contains("no_such_database") == true)
        // Through the command line: exit 4, one line.
        let result = try runProcess(productsDirectory.appendingPathComponent("backstop").path, ["status", "--ledger", "postgres://backstop@127.0.0.1:1/none"])
        #expect(result.status == 4 && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test("the command line on a database ledger (backstop hands it to backstop-server): init, delegate actions, a contribution, status; export is byte for byte a file ledger that verifies; import loads it into another database")
    func commandLine() throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        let directory = try makeTemporaryDirectory("backstop-pg-cli")
        defer { try? FileManager.default.removeItem(at: directory) }
        let keys = packageRoot.appendingPathComponent("Keys/demo").path
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        @discardableResult
        func run(_ arguments: [String], expect code: Int32 = 0) throws -> ProcessResult {
            let result = try runProcess(productsDirectory.appendingPathComponent("backstop").path, arguments)
            #expect(result.status == code, "backstop \(arguments.joined(separator: " ")): \(result.stderr)")
            return result
        }
        var round = 0
        func signatures(_ payload: String) throws -> [String] {
            round += 1
            return try (1...4).flatMap { number -> [String] in
                let signature = path("\(URL(fileURLWithPath: payload).lastPathComponent).\(round).d\(number).sig")
                try run(["approve", "--key", "\(keys)/delegate-\(number).key.pem", "--proposal", payload, "--out", signature])
                return ["--signature", signature]
            }
        }
        let delegates = (1...7).flatMap { ["--delegate", "platform-\($0)=\(keys)/delegate-\($0).pub.pem"] }
        try run(["genesis", "draft", "--name", "PG fund", "--asset", "USDC:6", "--out", path("genesis.json")] + delegates)
        let created = try run(["init", "--ledger", url, "--genesis", path("genesis.json")] + (try signatures(path("genesis.json"))))
        #expect(created.stdout.contains("created the ledger in postgres://backstop@127.0.0.1"))
        try run(["propose", "admit", "--member", "m1", "--platform", "Member One", "--key", "\(keys)/exchange-a.pub.pem", "--size", "1000000", "--ledger", url, "--out", path("admit.json")])
        try run(["submit", "--ledger", url, "--proposal", path("admit.json")] + (try signatures(path("admit.json"))))
        // Submitting the same proposal again: already recorded (exit 0, nothing appended).
        #expect(try run(["submit", "--ledger", url, "--proposal", path("admit.json")] + (try signatures(path("admit.json")))).stdout.contains("already recorded"))
        try run(["contribute", "--ledger", url, "--member", "m1", "--key", "\(keys)/exchange-a.key.pem", "--asset", "USDC", "--amount", "500", "--id", "c1"])
        let refused = try run(["contribute", "--ledger", url, "--member", "m9", "--key", "\(keys)/exchange-a.key.pem", "--asset", "USDC", "--amount", "5"], expect: 2)
        #expect(refused.stderr.contains("m9"))
        let status = try run(["status", "--ledger", url, "--json", "--now", "2030-01-01T00:00:00Z"]).stdout

        // Verbs that read the file itself say how to get one.
        #expect(try run(["verify", "--ledger", url], expect: 2).stderr.contains("backstop export"))
        try run(["export", "--ledger", url, "--to", path("exported")])
        let verified = try run(["verify", "--ledger", path("exported")])
        #expect(verified.stdout.contains("intact"))
        #expect(try run(["status", "--ledger", path("exported"), "--json", "--now", "2030-01-01T00:00:00Z"]).stdout == status)
        // Byte for byte what the database holds, line by line.
        let database = String(url.split(separator: "/").last!)
        let rows = try server.psql(database, "SELECT encode(line, 'escape') FROM backstop_entries ORDER BY seq").stdout
        #expect(try String(contentsOf: URL(fileURLWithPath: path("exported/ledger.jsonl")), encoding: .utf8) == rows)
        #expect(try run(["export", "--ledger", url, "--to", path("exported")]).stdout.contains("exported 0 new entries"))

        // Into a second database, and the two agree.
        let second = try server.makeDatabase()
        #expect(try run(["import", "--from", path("exported"), "--ledger", second]).stdout.contains("imported 3 new entries"))
        #expect(try run(["status", "--ledger", second, "--json", "--now", "2030-01-01T00:00:00Z"]).stdout == status)
        // A folder that is not a prefix of the database is refused, and nothing changes.
        try run(["genesis", "draft", "--name", "Other fund", "--asset", "USDC:6", "--out", path("other.json")] + delegates)
        try run(["init", "--ledger", path("other"), "--genesis", path("other.json")] + (try signatures(path("other.json"))))
        let notPrefix = try run(["import", "--from", path("other"), "--ledger", url], expect: 1)
        #expect(notPrefix.stderr.contains("rolled back") || notPrefix.stderr.contains("fork"), "\(notPrefix.stderr)")
        #expect(try run(["status", "--ledger", url, "--json", "--now", "2030-01-01T00:00:00Z"]).stdout == status)

        // A source that does not verify is copied nowhere: no new folder is left behind.
        try FileManager.default.copyItem(atPath: path("exported"), toPath: path("tampered"))
        let file = path("tampered/ledger.jsonl")
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        let at = try #require(bytes.firstIndex(of: UInt8(ascii: "1")))
        bytes[at] = UInt8(ascii: "2")
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        try run(["mirror", "--from", path("tampered"), "--to", path("fresh")], expect: 1)
        #expect(!FileManager.default.fileExists(atPath: path("fresh")))
    }
}
