import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// Options every verb that appends takes: the ledger folder and the entry time.
struct LedgerOptions: ParsableArguments {
    @Option(help: "The ledger folder.")
    var ledger: String

    @Option(help: ArgumentHelp("Entry time to record, YYYY-MM-DDTHH:MM:SSZ (default: now). For replaying history and tests.", visibility: .hidden))
    var now: String?

    var url: URL { URL(fileURLWithPath: ledger) }

    func time() throws -> Timestamp { try parseNow(now) }
}

/// The private key a verb signs with, and how to unlock it.
struct SignerOptions: ParsableArguments {
    @Option(help: "The private key (PKCS#8 PEM, encrypted or not).")
    var key: String

    @Option(help: "Passphrase file for an encrypted key (otherwise asked on the terminal).")
    var passphraseFile: String?

    func privateKey() throws -> PrivateKey { try Files.privateKey(key, passphraseFile: passphraseFile) }
}

/// Options of a verb that writes a payload file for people to sign.
struct ProposalOptions: ParsableArguments {
    @Option(help: "How long the payload stays valid: 30m, 72h, 14d.")
    var expires: String = "72h"

    @Option(help: "The payload id (default: 128 random bits in hex). Never reused in a fund.")
    var id: String?

    @Option(help: "Where to write the payload (must not exist).")
    var out: String
}

/// The current time, or `--now` when given.
func parseNow(_ text: String?) throws -> Timestamp {
    if let text {
        guard let time = Timestamp(text) else { throw CLIError.badInput("--now \(text): expected YYYY-MM-DDTHH:MM:SSZ") }
        return time
    }
    guard let time = Timestamp(secondsSinceEpoch: Int64(Date().timeIntervalSince1970)) else { throw CLIError.badInput("the system clock is out of range") }
    return time
}

/// "30m", "72h", "14d" or plain seconds, as seconds.
func parseDuration(_ text: String, option: String) throws -> Int64 {
    let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
    var digits = Substring(text)
    var unit: Int64 = 1
    if let last = text.last, let multiplier = units[last] {
        digits = text.dropLast()
        unit = multiplier
    }
    guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = Int64(digits), value >= 0, value <= 3_650 * 86_400 / unit else {
        throw CLIError.badInput("\(option) \(text): expected a duration such as 30m, 72h or 14d")
    }
    return value * unit
}

/// Reads the fund's state from a ledger without locking it (verifying the whole ledger).
func readFund(_ options: LedgerOptions) throws -> FundState {
    let file = options.url.appendingPathComponent(LedgerStore.ledgerFileName)
    guard FileManager.default.fileExists(atPath: file.path) else { throw CLIError.badInput("no ledger in \(options.ledger) (\(LedgerStore.ledgerFileName) is missing)") }
    return try Fund.verify(file: file).0
}

/// Writes a payload as its canonical bytes (exactly what gets signed) and tells how to sign it.
func writePayload(_ payload: JSONValue, to path: String) throws {
    try Files.writeNew(path, Canonical.encode(payload), mode: 0o644, what: "payload file")
}

/// Reads a payload file, which must be canonical JSON: its bytes are what was signed.
func readPayload(_ path: String) throws -> (JSONValue, [UInt8]) {
    let bytes = try Files.read(path, what: "payload file")
    do {
        return (try JSONParser.parseCanonical(bytes), bytes)
    } catch {
        throw CLIError.badInput("payload file \(path) is not a Backstop payload: \(error)")
    }
}

/// The kind a payload's domain names.
func kind(of payload: JSONValue, path: String) throws -> EntryKind {
    guard let domain = payload["domain"]?.stringValue, domain.hasPrefix("backstop/v1/"),
          let kind = EntryKind(rawValue: String(domain.dropFirst("backstop/v1/".count)))
    else { throw CLIError.badInput("payload file \(path) has no known backstop/v1 domain") }
    return kind
}

/// An amount typed in asset units ("4836.26") for `asset` of the fund.
func parseAmount(_ text: String, asset: String, state: FundState, option: String) throws -> Amount {
    guard let decimals = state.assets[asset] else {
        throw CLIError.badInput("\(option): unknown asset \(asset); this fund holds \(state.assets.keys.sorted().joined(separator: ", "))")
    }
    do { return try Amount(decimal: text, decimals: decimals, field: option) } catch { throw CLIError.badInput(error.reason) }
}

/// An amount in asset units for display.
func display(_ amount: Amount, _ asset: String, _ state: FundState?) -> String {
    guard let decimals = state?.assets[asset] else { return "\(amount) \(asset) minor units" }
    return "\(amount.decimalString(decimals: decimals)) \(asset)"
}

/// Prints a canonical JSON value on one line.
func printJSON(_ value: JSONValue) {
    print(String(decoding: Canonical.encode(value), as: UTF8.self))
}

/// Signature files, read in the order given.
func readSignatures(_ paths: [String]) throws -> [[UInt8]] {
    try paths.map { try Files.read($0, what: "signature file") }
}

extension FundError {
    /// Rules that say the input named something that does not exist or cannot be read
    /// exit 2; every other refusal exits 1.
    var exitCode: Int32 {
        switch rule {
        case .malformedPayload, .invalidAmount, .unknownAsset, .unknownMember, .unknownClaim, .unknownRelease, .notInitialized: 2
        default: 1
        }
    }
}

/// Tells what was appended: a sentence for people, or with `--json` one object for scripts
/// (`seq`, `kind`, `id`, `hash`, `time`, plus `extra`).
func reportAppended(_ entry: Entry, _ fund: Fund, json: Bool, extra: [String: JSONValue] = [:], _ text: String) {
    guard json else { return print(text) }
    var object = extra
    object["seq"] = .integer(entry.seq)
    object["kind"] = .string(entry.kind)
    object["id"] = entry.body["id"] ?? .null
    object["hash"] = .string(Hex.encode(fund.state.head))
    object["time"] = .string(entry.time.description)
    printJSON(.object(object))
}
