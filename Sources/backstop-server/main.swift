import BackstopCLI
import BackstopLedger
import BackstopPostgres
import BackstopService

/// `--ledger postgres://USER@HOST:PORT/DATABASE[?fund=ID&password-file=PATH]`.
enum PostgresOpener: LedgerStoreOpener {
    static func handles(_ ledger: String) -> Bool { PostgresStorage.Address.isURL(ledger) }

    static func open(_ ledger: String, forWriting: Bool, create: Bool, lockWaitSeconds: Double) throws -> any LedgerStorage {
        try PostgresStorage(url: ledger, forWriting: forWriting, createSchema: create, lockWaitSeconds: lockWaitSeconds)
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "serve" {
    await BackstopServe.main(arguments: Array(arguments.dropFirst()), stores: [PostgresOpener.self])
}
BackstopCommandLine.main(stores: [PostgresOpener.self])
