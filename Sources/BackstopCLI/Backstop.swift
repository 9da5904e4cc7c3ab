import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// The `backstop` command line, as its executables run it.
public enum BackstopCommandLine {
    /// Runs the verb named by the process's arguments and exits with its documented code.
    ///
    /// - Parameter stores: the ledger stores beyond folders this executable links (the
    ///   `backstop-server` executable links PostgreSQL; `backstop` links none and hands a
    ///   ledger URL it cannot open to `backstop-server`, found beside it).
    public static func main(stores: [any LedgerStoreOpener.Type] = []) -> Never {
        StoreOpeners.register(stores)
        Backstop.main()
        exit(0)
    }

    /// Makes `stores` openable by URL, for a program that runs verbs' code itself (`serve`).
    package static func register(stores: [any LedgerStoreOpener.Type]) { StoreOpeners.register(stores) }
}

/// A kind of ledger store the command line can open by URL (`--ledger URL`).
public protocol LedgerStoreOpener {
    /// Whether `ledger` (an option's value) names a store of this kind.
    static func handles(_ ledger: String) -> Bool
    /// Opens the store `ledger`: for writing (holding its writer lock, waiting up to
    /// `lockWaitSeconds`), creating what a new ledger needs when `create`.
    static func open(_ ledger: String, forWriting: Bool, create: Bool, lockWaitSeconds: Double) throws -> any LedgerStorage
}

/// The store kinds this executable links.
enum StoreOpeners {
    // Set once by main, before any verb runs, and only read afterwards.
    nonisolated(unsafe) private static var registered: [any LedgerStoreOpener.Type] = []

    static func register(_ openers: [any LedgerStoreOpener.Type]) { registered += openers }

    /// The opener for `ledger`, or nil when it is a folder.
    static func opener(for ledger: String) throws -> (any LedgerStoreOpener.Type)? {
        if let opener = registered.first(where: { $0.handles(ledger) }) { return opener }
        guard isStoreURL(ledger) else { return nil }
        throw CLIError.badInput("\(SafeText.escape(StorageURL.redacted(ledger))) is a database ledger, which backstop-server opens; build it with: swift build -c release --product backstop-server")
    }

    /// Whether `text` is a URL of a store (not a folder).
    static func isStoreURL(_ text: String) -> Bool { StorageURL.isDatabase(text) }

    /// Whether an argument names a store URL, alone or as `--option=URL`.
    static func namesStoreURL(_ argument: String) -> Bool {
        isStoreURL(argument) || (argument.hasPrefix("--") && argument.split(separator: "=", maxSplits: 1).dropFirst().first.map { isStoreURL(String($0)) } == true)
    }

    /// When an argument is a store URL this executable cannot open, or the verb is `serve`,
    /// runs `backstop-server` (beside this executable) with the same arguments instead;
    /// returns if there is none.
    static func handOffIfNeeded(_ arguments: [String]) {
        guard registered.isEmpty, arguments.first == "serve" || arguments.prefix(while: { $0 != "--" }).contains(where: namesStoreURL) else { return }
        guard let me = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return }
        let server = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("backstop-server").path
        guard FileManager.default.isExecutableFile(atPath: server) else { return }
        var argv: [UnsafeMutablePointer<CChar>?] = ([server] + arguments).map { strdup($0) }
        argv.append(nil)
        execv(server, &argv)
    }
}

/// The `backstop` command line.
struct Backstop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backstop",
        abstract: "The ledger of an industry insurance fund: keys, signatures, and a hash-chained ledger anyone can verify.",
        discussion: """
            Exit codes: 0 success (also: the action is already recorded); 1 refused (a rule \
            says no, a signature is invalid, a ledger is not intact, a warning was not \
            accepted); 2 unusable input (a missing or malformed file, key, amount or argument); \
            3 the ledger is locked by another writer (retry, or give --wait SECONDS); 4 the \
            system failed (an I/O or fsync error). Errors are one line on standard error; \
            with --json, also a JSON object {"ok":false,"error":{...}} on standard output. \
            Shell completions: backstop --generate-completion-script bash|zsh|fish.
            """,
        version: "backstop 0.5.0",
        subcommands: [
            GenesisCommand.self, InitCommand.self, ProposeCommand.self, ApproveCommand.self, CheckCommand.self, SubmitCommand.self,
            ContributeCommand.self, ClaimCommand.self, PetitionCommand.self, StatusCommand.self, LogCommand.self,
            VerifyCommand.self, CheckpointCommand.self, CosignCommand.self, ProveCommand.self, CheckProofCommand.self, MirrorCommand.self, ExportCommand.self, ImportCommand.self,
            ServeCommand.self, ReportCommand.self, RestitutionCommand.self, InspectCommand.self, KeyCommand.self, SignatureCommand.self, DemoCommand.self, BenchCommand.self,
        ]
    )

    /// Runs the command, mapping every failure to one line on stderr and a documented exit code.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let json = arguments.prefix { $0 != "--" }.contains("--json")
        StoreOpeners.handOffIfNeeded(arguments)
        do {
            try checkVerbs(arguments)
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let error as ExitCode {
            // The command printed its own report (check, verify --json) before exiting.
            Foundation.exit(error.rawValue)
        } catch {
            let failure = Failure(error)
            guard let failure else {
                // Help and version requests from the argument parser.
                exit(withError: error)
            }
            FileHandle.standardError.write(Data("backstop: \(SafeText.sanitize(failure.message))\n".utf8))
            if json {
                printJSON(["ok": false, "error": [
                    "code": .string(failure.code), "rule": failure.rule.map { .string($0) } ?? .null,
                    "seq": failure.seq.map { .integer($0) } ?? .null, "message": .string(failure.message),
                ]])
            }
            Foundation.exit(failure.exitCode)
        }
    }

    /// Refuses an unknown verb with the closest known ones, before the argument parser
    /// reports it as an unexpected argument.
    static func checkVerbs(_ arguments: [String]) throws {
        var command: ParsableCommand.Type = Backstop.self
        for argument in arguments {
            guard !argument.hasPrefix("-") else { return }
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty else { return }
            guard let next = subcommands.first(where: { $0._commandName == argument }) else {
                if argument == "help" { return }
                let names = subcommands.map { $0._commandName }
                let verb = command == Backstop.self ? "verb" : "\(command._commandName) verb"
                throw CLIError.badInput("unknown \(verb) \(SafeText.quoted(argument))\(Identifiers.didYouMean(argument, among: names)); one of: \(names.joined(separator: ", "))")
            }
            command = next
        }
    }
}

/// A failure as the command line reports it.
package struct Failure {
    package let code: String
    package let rule: String?
    package let seq: Int64?
    package let message: String
    package let exitCode: Int32

    /// Nil for the argument parser's help and version requests, which are not failures.
    package init?(_ error: Error) {
        switch error {
        case let error as CLIError:
            self.init(code: error.code, rule: nil, seq: nil, message: error.message, exitCode: error.exitCode)
        case let error as LedgerError:
            let exit: Int32 = switch error.code {
            case .corrupt: 1
            case .locked, .headMoved: 3
            case .io, .syncFailed, .unavailable: 4
            case .notFound, .alreadyExists, .invalidEntry: 2
            }
            self.init(code: error.code.rawValue, rule: nil, seq: error.seq, message: "\(error)", exitCode: exit)
        case let error as FundError:
            self.init(code: error.exitCode == 1 ? "refused" : "badInput", rule: error.rule.rawValue, seq: error.seq,
                      message: "refused: \(error) [rule \(error.rule.rawValue)]", exitCode: error.exitCode)
        case let error as CryptoError:
            self.init(code: "badInput", rule: nil, seq: nil, message: "\(error)", exitCode: 2)
        default:
            let code = Backstop.exitCode(for: error)
            if code == .success { return nil }
            let reason = Backstop.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            self.init(code: "badInput", rule: nil, seq: nil, message: "\(reason) (see backstop help)", exitCode: 2)
        }
    }

    private init(code: String, rule: String?, seq: Int64?, message: String, exitCode: Int32) {
        self.code = code
        self.rule = rule
        self.seq = seq
        self.message = message
        self.exitCode = exitCode
    }
}

/// A failure the command line reports: the message, and the exit code it documents.
struct CLIError: Error {
    let message: String
    let exitCode: Int32

    var code: String {
        switch exitCode {
        case 1: "refused"
        case 3: "locked"
        case 4: "io"
        default: "badInput"
        }
    }

    /// Exit 1: the input was understood and the answer is no.
    static func refused(_ message: String) -> CLIError { CLIError(message: message, exitCode: 1) }
    /// Exit 2: the input could not be used.
    static func badInput(_ message: String) -> CLIError { CLIError(message: message, exitCode: 2) }
}
