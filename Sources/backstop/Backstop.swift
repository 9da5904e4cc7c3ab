import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// The `backstop` command line.
@main
struct Backstop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backstop",
        abstract: "The ledger of an industry insurance fund: keys, signatures, and a hash-chained ledger anyone can verify.",
        discussion: """
            Exit codes: 0 success; 1 refused (an invalid signature, a ledger that is not intact, \
            a rule that says no); 2 unusable input (a missing or malformed file, key, amount or \
            argument). Errors are one line on standard error.
            """,
        subcommands: [
            GenesisCommand.self, InitCommand.self, ProposeCommand.self, ApproveCommand.self, SubmitCommand.self,
            ContributeCommand.self, ClaimCommand.self, PetitionCommand.self, StatusCommand.self, LogCommand.self,
            VerifyCommand.self, InspectCommand.self, KeyCommand.self, SignatureCommand.self, DemoCommand.self,
        ]
    )

    /// Runs the command, mapping every failure to one line on stderr and a documented exit code.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("backstop: \(error.message)\n".utf8))
            Foundation.exit(error.exitCode)
        } catch let error as LedgerError {
            FileHandle.standardError.write(Data("backstop: \(error)\n".utf8))
            Foundation.exit(error.code == .corrupt || error.code == .locked ? 1 : 2)
        } catch let error as FundError {
            FileHandle.standardError.write(Data("backstop: refused: \(error) [rule \(error.rule.rawValue)]\n".utf8))
            Foundation.exit(error.exitCode)
        } catch let error as CryptoError {
            FileHandle.standardError.write(Data("backstop: \(error)\n".utf8))
            Foundation.exit(2)
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            // Help and version requests, and usage errors, from the argument parser.
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            let reason = message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            FileHandle.standardError.write(Data("backstop: \(reason) (see backstop help)\n".utf8))
            Foundation.exit(2)
        }
    }
}

/// A failure the command line reports: the message, and the exit code it documents.
struct CLIError: Error {
    let message: String
    let exitCode: Int32

    /// Exit 1: the input was understood and the answer is no.
    static func refused(_ message: String) -> CLIError { CLIError(message: message, exitCode: 1) }
    /// Exit 2: the input could not be used.
    static func badInput(_ message: String) -> CLIError { CLIError(message: message, exitCode: 2) }
}
