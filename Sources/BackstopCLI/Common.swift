import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// The ledger folder every verb that reads or appends takes.
struct LedgerOptions: ParsableArguments {
    @Option(help: "The ledger folder (a path to its ledger.jsonl is accepted too).")
    var ledger: String

    /// The ledger folder, for a verb that reads the file itself (a database ledger is
    /// copied to a folder first with `backstop export`).
    func url() throws -> URL { try ledgerFolder(ledger) }

    /// The ledger: a folder or a store URL.
    func location() throws -> LedgerLocation { try LedgerLocation(ledger) }

    /// The time an appended entry is stamped with: the system clock, always. (No option
    /// sets it: a writer that could choose its entry times could bend every time rule.)
    func writeTime() throws -> Timestamp { try parseNow(nil) }
}

/// The time a verb that only reads judges at: now, or for tests a private `--now`.
struct ClockOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The time to judge at, YYYY-MM-DDTHH:MM:SSZ (default: now). For tests.", visibility: .private))
    var now: String?

    func time() throws -> Timestamp { try parseNow(now) }
}

/// The fund's witnesses, as genesis draft and propose policy take them.
struct WitnessOptions: ParsableArguments {
    @Option(help: "A witness that cosigns checkpoints, as NAME=PUBLIC-KEY.pem, Ed25519 or ECDSA (repeat; default: the delegates are the witnesses).")
    var witness: [String] = []

    @Option(help: "How many of the --witness keys must cosign a checkpoint (default: a majority of them).")
    var witnessQuorum: Int?

    @Flag(help: "The delegates are the witnesses, their approval threshold the quorum (the default at genesis).")
    var delegatesWitness = false

    /// The policy given, or nil when none of the options is.
    func policy() throws -> WitnessPolicy? {
        if delegatesWitness {
            guard witness.isEmpty, witnessQuorum == nil else { throw CLIError.badInput("--delegates-witness excludes --witness and --witness-quorum") }
            return .delegates
        }
        guard !witness.isEmpty else {
            if witnessQuorum != nil { throw CLIError.badInput("--witness-quorum needs --witness; with none, the delegates are the witnesses and their threshold the quorum") }
            return nil
        }
        let cosigners = try witness.map { item -> Cosigner in
            guard item.contains("=") else { throw CLIError.badInput("--witness \(SafeText.quoted(item)): expected NAME=PUBLIC-KEY.pem") }
            return try parseWitness(item)
        }
        let quorum = witnessQuorum ?? cosigners.count / 2 + 1
        guard (1...cosigners.count).contains(quorum) else {
            throw CLIError.badInput("--witness-quorum \(quorum): must be 1 to the \(cosigners.count) witnesses given")
        }
        return .cosigners(cosigners, quorum: quorum)
    }
}

/// How long a verb that appends waits for another writer.
struct WaitOptions: ParsableArguments {
    @Option(help: "Seconds to wait for another backstop process that holds the ledger's lock (default: do not wait; exit 3).")
    var wait: Double = 0
}

/// `--ledger` names the folder; a path to the folder's ledger.jsonl means the folder.
func ledgerFolder(_ path: String) throws -> URL {
    guard !StoreOpeners.isStoreURL(path) else {
        throw CLIError.badInput("this verb reads a ledger folder, and \(SafeText.escape(StorageURL.redacted(path))) is a database: copy it to one first with backstop export --ledger URL --to DIR")
    }
    guard !HTTPClient.isServiceURL(path) else {
        throw CLIError.badInput("this verb reads a ledger folder, and \(SafeText.escape(path)) is a service: copy it to one first with backstop mirror --from URL --to DIR")
    }
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    let url = URL(fileURLWithPath: path)
    if exists && !isDirectory.boolValue {
        guard url.lastPathComponent == LedgerStore.ledgerFileName else {
            throw CLIError.badInput("--ledger \(SafeText.escape(path)) is a file; give the ledger folder, the one that holds \(LedgerStore.ledgerFileName)")
        }
        return url.deletingLastPathComponent()
    }
    return url
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

    func payloadId() throws -> String {
        guard let id else { return Payloads.newId() }
        guard Identifiers.isIdentifier(id) else { throw CLIError.badInput("--id \(SafeText.quoted(id)): 1 to 64 of A-Z a-z 0-9 . _ -") }
        return id
    }
}

/// The clock of the verbs. The demo sets ``override`` to tell its story in 2022 without
/// passing a hidden option on the commands it prints.
enum Clock {
    nonisolated(unsafe) static var override: Timestamp?
}

/// The current time, or `--now` when given.
func parseNow(_ text: String?) throws -> Timestamp {
    if let text {
        guard let time = Timestamp(text) else { throw CLIError.badInput("--now \(SafeText.escape(text)): expected YYYY-MM-DDTHH:MM:SSZ") }
        return time
    }
    if let time = Clock.override { return time }
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
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(digits), value >= 0, value <= 3_650 * 86_400 / unit else {
        throw CLIError.badInput("\(option) \(SafeText.escape(text)): expected a duration such as 30m, 72h or 14d")
    }
    return value * unit
}

/// Where `--ledger` points: a folder, or a store this executable opens by URL.
package enum LedgerLocation {
    case folder(URL)
    case store(String, any LedgerStoreOpener.Type)
    /// A `backstop serve` URL, read over HTTP (mirror's source only).
    case service(String)

    package init(_ text: String) throws {
        if HTTPClient.isServiceURL(text) { self = .service(HTTPClient.base(text)); return }
        if let opener = try StoreOpeners.opener(for: text) { self = .store(text, opener) } else { self = .folder(try ledgerFolder(text)) }
    }

    /// For messages: the folder's path or the URL without a password.
    package var display: String {
        switch self {
        case .folder(let url): url.path
        case .store(let text, _): StorageURL.redacted(text)
        case .service(let url): url
        }
    }

    /// Opens the store without its writer lock, to read.
    package func openForReading() throws -> any LedgerStorage {
        switch self {
        case .folder(let url): throw CLIError.badInput("internal: \(url.path) is a folder")
        case .store(let text, let opener): try opener.open(text, forWriting: false, create: false, lockWaitSeconds: 0)
        case .service(let url): HTTPLedger(url: url)
        }
    }
}

/// Reads the fund's state without locking the ledger (verifying the whole ledger).
func readFund(_ location: LedgerLocation) throws -> FundState {
    switch location {
    case .folder(let folder): return try readFund(folder)
    case .store, .service:
        let storage = try location.openForReading()
        defer { storage.close() }
        guard try storage.storedHead().count > 0 else { throw CLIError.badInput("no ledger in \(SafeText.escape(location.display)) (it holds no entries)") }
        return try replaying(location.display) { try Fund.verify(storage: storage).0 }
    }
}

/// The entry of the ledger at `location` (whose state is `state`) that records `payload`'s action.
func recorded(_ payload: Payload, state: FundState, at location: LedgerLocation) throws -> Int64? {
    switch location {
    case .folder(let folder): return try Fund.recorded(payload, state: state, file: folder.appendingPathComponent(LedgerStore.ledgerFileName))
    case .store, .service:
        let storage = try location.openForReading()
        defer { storage.close() }
        return try Fund.recorded(payload, state: state, storage: storage)
    }
}

/// Opens a ledger to append, waiting `wait` seconds for another writer.
package func openFund(_ location: LedgerLocation, wait: Double, clock: @escaping @Sendable () -> Timestamp = Fund.systemClock) throws -> Fund {
    switch location {
    case .folder(let folder): return try replaying(folder) { try Fund.open(at: folder, lockWaitSeconds: wait, clock: clock) }
    case .store(let text, let opener):
        let storage = try opener.open(text, forWriting: true, create: false, lockWaitSeconds: wait)
        guard try storage.storedHead().count > 0 else {
            storage.close()
            throw CLIError.badInput("no ledger in \(SafeText.escape(location.display)) (it holds no entries; start one with backstop init or backstop import)")
        }
        do {
            return try replaying(location.display) { try Fund.open(storage: storage, clock: clock) }
        } catch {
            storage.close()
            throw error
        }
    case .service(let url):
        throw CLIError.badInput("\(SafeText.escape(url)) is a service: its ledger is written through its API (backstop approve --server)")
    }
}

/// Reads the fund's state from a ledger folder without locking it (verifying the whole ledger).
func readFund(_ folder: URL) throws -> FundState {
    let file = folder.appendingPathComponent(LedgerStore.ledgerFileName)
    guard FileManager.default.fileExists(atPath: file.path) else {
        throw CLIError.badInput("no ledger in \(SafeText.escape(folder.path)) (\(LedgerStore.ledgerFileName) is missing)")
    }
    return try replaying(folder) { try Fund.verify(file: file).0 }
}

/// Opens a ledger to append, waiting `wait` seconds for another writer.
func openFund(_ folder: URL, wait: Double) throws -> Fund {
    try replaying(folder) { try Fund.open(at: folder, lockWaitSeconds: wait) }
}

/// A rule that refuses an entry already on the ledger means the ledger is not intact
/// (exit 1), which is not the same as a refusal of new input.
func replaying<T>(_ folder: URL, _ body: () throws -> T) throws -> T {
    try replaying(folder.path, body)
}

func replaying<T>(_ where: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as FundError {
        throw CLIError.refused("the ledger in \(SafeText.escape(`where`)) is NOT intact: \(error) [rule \(error.rule.rawValue)]; run backstop verify")
    }
}

/// Writes a payload as its canonical bytes (exactly what gets signed).
func writePayload(_ payload: JSONValue, to path: String) throws {
    try Files.writeNew(path, Canonical.encode(payload), mode: 0o644, what: "payload file")
}

/// Reads a payload file: canonical JSON that reads as a Backstop payload (its bytes are
/// what was signed).
func readPayload(_ path: String) throws -> (Payload, [UInt8]) {
    try parsePayload(try Files.read(path, what: "payload file"), source: "payload file \(SafeText.escape(path))")
}

/// Reads payload bytes from `source` (for messages).
package func parsePayload(_ bytes: [UInt8], source: String) throws -> (Payload, [UInt8]) {
    do {
        return (try Payload(bytes: bytes), bytes)
    } catch {
        throw CLIError.badInput("\(source) is not a Backstop payload the rules can read: \(error.reason) [rule \(error.rule.rawValue)]")
    }
}

/// An amount typed in asset units ("4836.26") for `asset` of the fund; errors name `option`
/// (and `assetOption` for an unknown asset, when the asset has its own option).
func parseAmount(_ text: String, asset: String, state: FundState, option: String, assetOption: String? = nil) throws -> Amount {
    guard let decimals = state.assets[asset] else {
        let held = state.assets.keys.sorted()
        throw CLIError.badInput("\(assetOption ?? option): unknown asset \(SafeText.quoted(asset))\(Identifiers.didYouMean(asset, among: held)); this fund holds \(held.joined(separator: ", "))")
    }
    do { return try Amount(decimal: text, decimals: decimals, field: option) } catch { throw CLIError.badInput(error.reason) }
}

/// A member id that must exist in the fund; errors suggest close ones.
func requireMember(_ id: String, _ state: FundState, option: String = "--member") throws {
    if Identifiers.isIdentifier(id), state.members[id] != nil { return }
    throw CLIError.badInput("\(option): unknown member \(SafeText.quoted(id))\(Identifiers.didYouMean(id, among: Array(state.members.keys)))")
}

/// Prints a canonical JSON value on one line.
package func printJSON(_ value: JSONValue) {
    print(String(decoding: Canonical.encode(value), as: UTF8.self))
}

/// Prints a payload's screen: its lines, `signer` (who signs it) when given, then its warnings.
func printScreen(_ screen: Screen, signer: String? = nil) {
    for line in screen.rendered { print("  " + line) }
    if let signer { print("  you sign as:   " + signer) }
    for note in screen.notes { print("  NOTE: " + SafeText.sanitize(note)) }
    for warning in screen.warnings { print("  WARNING: " + SafeText.sanitize(warning)) }
}

extension FundError {
    /// Rules that say the input named something that does not exist or cannot be read
    /// exit 2; every other refusal exits 1.
    var exitCode: Int32 {
        switch rule {
        case .malformedPayload, .forbiddenCharacter, .invalidAmount, .unknownAsset, .unknownMember, .unknownClaim, .unknownRelease, .unknownContribution, .unknownAssessor, .notInitialized: 2
        default: 1
        }
    }
}

/// Tells what was appended: a sentence for people, or with `--json` one object for scripts
/// (`ok`, `seq`, `kind`, `id`, `hash`, `time`, plus `extra`).
func reportAppended(_ entry: Entry, _ fund: Fund, json: Bool, extra: [String: JSONValue] = [:], _ text: String) {
    guard json else { return print(text) }
    var object = extra
    object["ok"] = true
    object["seq"] = .integer(entry.seq)
    object["kind"] = .string(entry.kind)
    object["id"] = entry.body["id"] ?? .null
    object["hash"] = .string(Hex.encode(fund.state.head))
    object["time"] = .string(entry.time.description)
    printJSON(.object(object))
}

/// Tells that the action is already on the ledger (exit 0, nothing appended).
func reportAlreadyRecorded(_ seq: Int64, id: String, json: Bool) {
    if json {
        printJSON(["ok": true, "alreadyRecorded": true, "seq": .integer(seq), "id": .string(id)])
    } else {
        print("already recorded as entry \(seq) (id \(id)); nothing appended")
    }
}

/// `ASSET=AMOUNT@TARGET` as `--pay` and `--hold` take it: the asset, the amount in asset
/// units (read with the fund's decimals; "0" allowed when `allowZero`) and what follows `@`.
func parseAssetAmountAt(_ item: String, option: String, form: String, state: FundState, allowZero: Bool = false) throws -> (asset: String, amount: Amount, target: String) {
    let parts = item.split(separator: "@", maxSplits: 1).map(String.init)
    let head = parts.first?.split(separator: "=", maxSplits: 1).map(String.init) ?? []
    guard parts.count == 2, head.count == 2, !parts[1].isEmpty else {
        throw CLIError.badInput("\(option) \(SafeText.quoted(item)): expected \(form)")
    }
    let amount = allowZero && head[1] == "0" ? Amount.zero : try parseAmount(head[1], asset: head[0], state: state, option: "\(option) \(SafeText.escape(head[0]))")
    return (head[0], amount, parts[1])
}
