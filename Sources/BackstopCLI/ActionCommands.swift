import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation
import Glibc

struct ApproveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Sign a payload file offline, after showing what it says and whom you sign as. Needs no ledger.",
        discussion: """
            Example: backstop approve --key delegate-3.key.pem --proposal release.json --out release.delegate-3.sig
            The screen shows every field on its own line, amounts in asset units and durations in \
            words, from the payload itself; give --ledger (a copy of the ledger) to check it against \
            the fund too. On a terminal it asks before signing. It refuses to sign, unless --yes is \
            given, when there is a warning: the payload has expired, is already recorded, is for \
            another fund or an older delegate set, your key may not sign it, or the rules would \
            refuse it now. The signature is the same as `openssl dgst -sha256 -sign KEY -out SIG \
            FILE` (but always low-S).
            """
    )

    @OptionGroup var signer: SignerOptions

    @Option(help: "The payload file to sign.")
    var proposal: String

    @Option(help: "Where to write the DER signature (must not exist).")
    var out: String

    @Option(help: "A copy of the ledger, to check the payload against the fund.")
    var ledger: String?

    @Flag(help: "Sign without asking, even when there are warnings (for scripts).")
    var yes = false

    @Option(help: ArgumentHelp("The time to judge expiry at (default: now). For tests.", visibility: .private))
    var now: String?

    @Option(help: "A signing-queue service (backstop serve) to send the signature to, such as http://127.0.0.1:8080.")
    var server: String?

    func run() throws {
        let (payload, bytes) = try readPayload(proposal)
        let folder = try ledger.map(LedgerLocation.init)
        let state = try folder.map(readFund)
        let privateKey = try signer.privateKey()
        var screen = Screen(payload, state: state)
        let role = screen.signer(privateKey.publicKey, payload: payload)
        try addTimeAndLedgerWarnings(&screen, payload, state: state, folder: folder, now: now)
        // The screen comes from the payload file (and the ledger copy). The service is only
        // asked where the proposal stands (read-only, before signing), and what it reports
        // is shown as its word; nothing is sent before the signer says yes.
        let id = Hex.encode(try SHA256.hash(bytes))
        if let server {
            do {
                let answer = try HTTPClient.send("GET", HTTPClient.base(server) + "/v1/proposals/\(id)")
                if answer.status == 200, let json = answer.json, json["queueId"]?.stringValue == id {
                    for problem in json["problems"]?.arrayValue ?? [] {
                        screen.warn("the service reports: \(SafeText.escape(problem["message"]?.stringValue ?? ""))")
                    }
                } else if answer.status == 404 {
                    screen.notes.append("the service does not hold this proposal yet; it is sent with your signature")
                }
            } catch {
                screen.notes.append("the service could not be reached (\(Failure(error)?.message ?? "\(error)")); the signature is written to \(out) all the same")
            }
        }
        print("You are signing:")
        printScreen(screen, signer: role)
        try confirm(screen, yes: yes)
        let signature = try privateKey.signature(for: bytes)
        try Files.writeNew(out, signature.derRepresentation, mode: 0o644, what: "signature file")
        print("signed with key \(privateKey.publicKey.fingerprint) into \(out)")
        guard let server else { return }
        let sent: HTTPClient.Answer
        do {
            _ = try HTTPClient.propose(server, payload: bytes)
            sent = try HTTPClient.send("POST", HTTPClient.base(server) + "/v1/proposals/\(id)/signatures", body: signature.derRepresentation, contentType: "application/octet-stream")
        } catch let error as CLIError {
            throw CLIError(message: "\(error.message); the signature is kept in \(out)", exitCode: error.exitCode)
        }
        guard sent.status == 200 || sent.status == 201, let json = sent.json, json["queueId"]?.stringValue == id else {
            throw HTTPClient.refusal(sent, "the service did not take the signature (it is kept in \(out))")
        }
        print("the service reports: \(SafeText.escape(json["signature"]?["message"]?.stringValue ?? ""))")
        for line in HTTPClient.analysisLines(json) { print(line) }
    }
}

/// Warnings that need the clock or the ledger: expired, already recorded, and what the rules
/// would refuse now.
func addTimeAndLedgerWarnings(_ screen: inout Screen, _ payload: Payload, state: FundState?, folder: LedgerLocation?, now text: String?) throws {
    let now = try parseNow(text)
    if now > payload.header.expires { screen.warn("the payload expired at \(payload.header.expires): it can no longer be recorded") }
    guard let state, let folder, payload.kind != .genesis else { return }
    if let seq = try recorded(payload, state: state, at: folder) {
        screen.warn("already recorded as entry \(seq): signing again adds nothing")
        return
    }
    do {
        try state.dryRun(payload, at: now)
    } catch where error.rule == .tooEarly {
        screen.notes.append("not yet recordable: \(error.reason)")
    } catch {
        // The screen already warns about another fund or another delegate set.
        let alreadySaid = (error.rule == .wrongFund || error.rule == .wrongDelegateSet) && !screen.warnings.isEmpty
        if !alreadySaid { screen.warn("the rules would refuse it now: \(error.reason) [rule \(error.rule.rawValue)]") }
    }
}

/// Refuses to go on when the screen has warnings (unless `yes`), and on a terminal asks.
func confirm(_ screen: Screen, yes: Bool) throws {
    if !screen.warnings.isEmpty && !yes {
        throw CLIError.refused("not signed: \(screen.warnings.count) warning(s) above; read them, and give --yes to sign anyway")
    }
    guard !yes, isatty(STDIN_FILENO) == 1 else { return }
    let answer = try Passphrase.askVisible("Sign? [y/N] ")
    guard answer == "y" || answer == "Y" || answer == "yes" else { throw CLIError.refused("not signed") }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a payload, signature or key file readably.",
        discussion: "Example: backstop inspect release.json --ledger fund/"
    )

    @Argument(help: "A payload (.json), a DER signature, or a PEM key.")
    var file: String

    @Option(help: "A copy of the ledger, to check the payload against the fund.")
    var ledger: String?

    @Option(help: ArgumentHelp("The time to judge expiry at (default: now). For tests.", visibility: .private))
    var now: String?

    func run() throws {
        let bytes = try Files.read(file, what: "file")
        if let json = try? JSONParser.parse(bytes) {
            let canonical = Canonical.encode(json) == bytes
            let payload: Payload
            do { payload = try Payload(json) } catch {
                print("NOT a payload the rules accept: \(SafeText.sanitize(error.reason)) [rule \(error.rule.rawValue)]")
                if case .object(let fields) = json {
                    for key in fields.keys.sorted() { print("  \(SafeText.show(key)): \(SafeText.show(String(decoding: Canonical.encode(fields[key]!), as: UTF8.self)))") }
                }
                throw ExitCode(1)
            }
            let folder = try ledger.map(LedgerLocation.init)
            var screen = Screen(payload, state: try folder.map(readFund))
            try addTimeAndLedgerWarnings(&screen, payload, state: screen.state, folder: folder, now: now)
            print("payload (\(canonical ? "canonical: these bytes are what is signed" : "NOT canonical: Backstop will refuse to use it; sign only the file Backstop wrote"))")
            printScreen(screen)
            return
        }
        if let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN") {
            if let key = try? PublicKey(pemRepresentation: text) {
                print("public key: \(key.curve.rawValue), fingerprint \(key.fingerprint)")
            } else {
                print("PEM file: \(SafeText.sanitize(String(text.split(separator: "\n").first ?? ""))) (a private key is not printed)")
            }
            return
        }
        for curve in Curve.allCases {
            if let signature = try? ECDSASignature(derRepresentation: bytes, curve: curve, policy: .intake) {
                print("ECDSA signature, strict DER, \(bytes.count) bytes, \(signature.isLowS ? "low-S" : "high-S (will be stored as low-S)")")
                print("  r = \(Hex.encode(signature.r))")
                print("  s = \(Hex.encode(signature.s))")
                return
            }
        }
        throw CLIError.badInput("\(SafeText.escape(file)) is not a payload, a DER ECDSA signature or a PEM key")
    }
}

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Append a signed proposal when enough of the right people signed it.",
        discussion: """
            Example: backstop submit --ledger fund/ --proposal release.json --signature d1.sig d4.sig sigs/
            Signatures may come from backstop or openssl, in any order, as files or folders of .sig \
            files; Backstop finds who made each. Below the threshold it exits 1 naming who signed, \
            who did not and what is wrong with each file that does not count; the ledger is \
            unchanged. A payload already on the ledger exits 0 with the entry that records it.
            """
    )

    @OptionGroup var options: LedgerOptions
    @OptionGroup var waiting: WaitOptions

    @Option(help: "The payload file that was signed.")
    var proposal: String?

    @Option(parsing: .upToNextOption, help: "DER signature files, or folders of .sig files (several after one --signature).")
    var signature: [String] = []

    @Option(help: "Instead of a proposal: a checkpoint file cosigned by the fund's witnesses (backstop cosign).")
    var checkpoint: String?

    @Option(help: "Instead of a proposal: a JSON Lines file of signed payloads, {\"payload\": {...}, \"signatures\": [{\"key\": hex SPKI, \"sig\": hex DER}]}, appended in order, all or none, with one fsync.")
    var batch: String?

    @Flag(help: "Print the appended entry as JSON (ok, seq, kind, id, hash, time, signers).")
    var json = false

    func run() throws {
        if let batch {
            guard proposal == nil, signature.isEmpty, checkpoint == nil else { throw CLIError.badInput("give --batch alone, without --proposal, --signature or --checkpoint") }
            let items = try Self.readBatch(batch)
            let fund = try openFund(try options.location(), wait: waiting.wait)
            let entries: [Entry]
            do {
                entries = try fund.submit(batch: items, time: try options.writeTime())
            } catch let error as FundError {
                guard let seq = error.seq, seq >= fund.state.entryCount else { throw error }
                throw FundError(error.rule, seq: seq, "line \(seq - fund.state.entryCount + 1) of \(SafeText.escape(batch)): \(error.reason); nothing was appended")
            }
            if json {
                print(String(decoding: Canonical.encode(["ok": true, "appended": .integer(Int64(entries.count)),
                                                         "first": .integer(entries.first?.seq ?? 0), "last": .integer(entries.last?.seq ?? 0)]), as: UTF8.self))
            } else {
                print("appended \(entries.count) entries, \(entries.first?.seq ?? 0) to \(entries.last?.seq ?? 0), with one write and one fsync")
            }
            return
        }
        if let checkpoint {
            guard proposal == nil, signature.isEmpty else { throw CLIError.badInput("give either --checkpoint, or --proposal with --signature") }
            let (note, point) = try readNote(checkpoint)
            let fund = try openFund(try options.location(), wait: waiting.wait)
            let state = fund.state
            if point.size <= state.checkpointSize, fund.state.checkpointSize > 0 {
                throw CLIError.refused("the ledger already records a checkpoint of \(state.checkpointSize) entries; this one, of \(point.size), adds nothing")
            }
            let entry = try fund.submitCheckpoint(note, time: try options.writeTime())
            return reportAppended(entry, fund, json: json, "appended entry \(entry.seq): \(state.summary(of: entry))\nthe fund's witnessed time is now \(fund.state.witnessedTime?.description ?? "unset")")
        }
        guard let proposal else { throw CLIError.badInput("give --proposal FILE with --signature, or --checkpoint FILE") }
        let (payload, bytes) = try readPayload(proposal)
        guard payload.kind != .genesis else { throw CLIError.badInput("a genesis payload starts a ledger: use backstop init") }
        if let claim = payload.body as? ClaimPayload, claim.member == nil {
            throw CLIError.badInput("a petition is submitted with backstop petition submit")
        }
        let files = try Files.signatures(signature, option: "--signature")
        let fund = try openFund(try options.location(), wait: waiting.wait)
        if let seq = try fund.recorded(payload) { return reportAlreadyRecorded(seq, id: payload.header.id, json: json) }
        let state = fund.state
        let (entry, intake) = try fund.submit(payloadBytes: bytes, files: files, time: try options.writeTime())
        let names = intake.files.compactMap { $0.verdict.counts ? $0.verdict.signer : nil }
        var extra: [String: JSONValue] = ["signers": .array(names.map { .string($0) })]
        var text = "appended entry \(entry.seq): \(state.summary(of: entry))"
        if !intake.setAside.isEmpty { text += "\nset aside: \(intake.setAside)" }
        if let release = fund.state.releases[payload.header.id], payload.kind == .release {
            if fund.state.witnesses == nil {
                extra["payableAt"] = .string(release.payableAt.description)
                text += "\nrelease \(payload.header.id) is pending; payable from \(release.payableAt)"
            } else {
                text += "\nrelease \(payload.header.id) is pending; its \(Words.duration(fund.state.releaseDelaySeconds)) delay runs from the first cosigned checkpoint that includes it"
            }
        }
        reportAppended(entry, fund, json: json, extra: extra, text)
    }
}

extension SubmitCommand {
    /// The lines of a batch file, each a signed payload: refused whole, naming the line, when
    /// one cannot be read.
    static func readBatch(_ path: String) throws -> [Fund.BatchItem] {
        let text = try Files.readText(path, what: "batch file", limit: 1 << 30)
        var items: [Fund.BatchItem] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            func bad(_ reason: String) -> CLIError { CLIError.badInput("line \(index + 1) of \(SafeText.escape(path)): \(reason); nothing was appended") }
            guard case .object(let fields)? = try? JSONParser.parse(Array(line.utf8)), fields.count == 2,
                  let payloadJSON = fields["payload"], let list = fields["signatures"]?.arrayValue
            else { throw bad("expected {\"payload\": {...}, \"signatures\": [...]}") }
            let payload: Payload
            do { payload = try Payload(payloadJSON) } catch { throw bad(error.reason) }
            guard payload.kind != .genesis else { throw bad("a genesis payload starts a ledger") }
            var signatures: [EntrySignature] = []
            for (number, item) in list.enumerated() {
                guard let pair = item.objectValue, pair.count == 2, let keyHex = pair["key"]?.stringValue, let keyDER = Hex.decode(keyHex),
                      let sigHex = pair["sig"]?.stringValue, let sigDER = Hex.decode(sigHex)
                else { throw bad("signature \(number + 1) is not {\"key\": hex, \"sig\": hex}") }
                do {
                    // Verified once, with the rest of the batch, by the fund.
                    let key = try PublicKey(derRepresentation: keyDER)
                    signatures.append(EntrySignature(publicKey: key, signature: try ECDSASignature(derRepresentation: sigDER, curve: key.curve, policy: .intake)))
                } catch let error as CryptoError {
                    throw bad("signature \(number + 1): \(error)")
                }
            }
            items.append(Fund.BatchItem(kind: payload.kind, payload: payloadJSON, signatures: signatures))
        }
        guard !items.isEmpty else { throw CLIError.badInput("\(SafeText.escape(path)) holds no payload") }
        return items
    }
}

struct ContributeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contribute",
        abstract: "Record a member's contribution, signed with the member's key.",
        discussion: """
            Example: backstop contribute --ledger fund/ --member exchange-a --key exchange-a.key.pem --asset USDC --amount 4836.26 --reference 0xabc... --id pay-2026-01
            Retrying with the same --id and the same member, asset, amount, period and reference \
            exits 0 with the entry that already records it; the same --id with anything else \
            different is refused (exit 1), naming that entry.
            """
    )

    @OptionGroup var options: LedgerOptions
    @OptionGroup var waiting: WaitOptions

    @Option(help: "The member's id.")
    var member: String

    @OptionGroup var signer: SignerOptions

    @Option(help: "The asset, such as USDC.")
    var asset: String

    @Option(parsing: .unconditional, help: "The amount in asset units, such as 4836.26.")
    var amount: String

    @Option(help: "External reference, such as the on-chain transaction id.")
    var reference: String = "none"

    @Option(help: "The period paid (default: the current one).")
    var period: Int64?

    @Option(help: "A unique id for this contribution (default: random). Reuse it when retrying.")
    var id: String?

    @Flag(help: "Print the appended entry as JSON (ok, seq, kind, id, hash, time).")
    var json = false

    func run() throws {
        let fund = try openFund(try options.location(), wait: waiting.wait)
        let time = try options.writeTime()
        let state = fund.state
        try requireMember(member, state)
        let minor = try parseAmount(amount, asset: asset, state: state, option: "--amount", assetOption: "--asset")
        let body = ContributionPayload(member: member, asset: asset, amount: minor, period: period ?? state.period(of: time), reference: reference)
        let json = Payloads.make(body, for: state, id: try ProposalOptions.validId(id), expires: try expiry(time, "1h"))
        let payload = try Payload(json)
        if let seq = try fund.recorded(payload) { return reportAlreadyRecorded(seq, id: payload.header.id, json: self.json) }
        let privateKey = try signer.privateKey()
        let entry = try fund.submit(.contribution, payload: json, signatures: try Payloads.sign(json, with: [privateKey]), time: time)
        let deadline = entry.time.adding(seconds: state.safeguards.receiptSeconds).map { $0.description } ?? "never"
        let counts = state.version >= 2
            ? "declared: it counts once the delegates' receipt confirms what arrived (by \(deadline); unconfirmed after that, it never counts)"
            : "it counts now (a fund from before receipts)"
        reportAppended(entry, fund, json: self.json, extra: ["confirmed": .bool(state.version < 2)], """
            appended entry \(entry.seq): \(member) contributed \(state.show(minor, asset)) for period \(body.period)
            \(counts)
            to prove it is recorded, once a cosigned checkpoint covers entry \(entry.seq): backstop prove inclusion --ledger \(options.ledger) --seq \(entry.seq) --checkpoint CHECKPOINT
            """)
    }
}

extension ProposalOptions {
    /// `--id`, checked, or a fresh random id.
    static func validId(_ id: String?) throws -> String {
        guard let id else { return Payloads.newId() }
        guard Identifiers.isIdentifier(id) else { throw CLIError.badInput("--id \(SafeText.quoted(id)): 1 to 64 of A-Z a-z 0-9 . _ -") }
        return id
    }
}

/// The incident options shared by a member's claim and a petition.
struct IncidentOptions: ParsableArguments {
    @Option(help: "The platform where the breach happened.")
    var platform: String

    @Option(help: "What happened.")
    var description: String

    @Option(help: "When it happened, YYYY-MM-DDTHH:MM:SSZ.")
    var incidentTime: String

    @Option(help: "How many accounts were affected.")
    var accounts: Int64

    @Option(help: "A loss as ASSET=AMOUNT in asset units, such as ETH=4836.26 (repeat, once per asset).")
    var loss: [String] = []

    @Option(help: "An evidence document; its SHA-256 is recorded (repeat).")
    var evidence: [String] = []

    func body(state: FundState, member: String?) throws -> ClaimPayload {
        guard let incident = Timestamp(incidentTime) else { throw CLIError.badInput("--incident-time \(SafeText.escape(incidentTime)): expected YYYY-MM-DDTHH:MM:SSZ") }
        guard !loss.isEmpty else { throw CLIError.badInput("give at least one --loss ASSET=AMOUNT") }
        var losses: [String: Amount] = [:]
        for item in loss {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw CLIError.badInput("--loss \(SafeText.quoted(item)): expected ASSET=AMOUNT, such as ETH=4836.26") }
            let amount = try parseAmount(parts[1], asset: parts[0], state: state, option: "--loss \(SafeText.escape(parts[0]))")
            guard losses.updateValue(amount, forKey: parts[0]) == nil else {
                throw CLIError.badInput("--loss \(parts[0]) is given twice; give one --loss per asset with the whole loss")
            }
        }
        let hashes = try evidence.map { Hex.encode(try SHA256.hash(try Files.read($0, what: "evidence file"))) }
        return ClaimPayload(member: member, platform: platform, description: description, incidentTime: incident, accounts: accounts, losses: losses, evidence: hashes)
    }
}

struct ClaimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claim",
        abstract: "File a breach claim as a member.",
        subcommands: [File.self]
    )

    struct File: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "File a claim signed with the member's key (the member must be active and not in arrears).",
            discussion: """
                Example: backstop claim file --ledger fund/ --member exchange-a --key exchange-a.key.pem --platform "Exchange A" --description "2FA bypass" --incident-time 2022-01-17T00:00:00Z --accounts 483 --loss ETH=4836.26 --loss BTC=443.93 --id breach-1
                A retry with the same --id and the same claim exits 0 with the entry that records it.
                """
        )

        @OptionGroup var options: LedgerOptions
        @OptionGroup var waiting: WaitOptions
        @OptionGroup var incident: IncidentOptions

        @Option(help: "The member's id.")
        var member: String

        @OptionGroup var signer: SignerOptions

        @Option(help: "The claim id (default: random). Reuse it when retrying.")
        var id: String?

        @Flag(help: "Print the appended entry as JSON (ok, seq, kind, id, hash, time).")
        var json = false

        func run() throws {
            let fund = try openFund(try options.location(), wait: waiting.wait)
            let time = try options.writeTime()
            try requireMember(member, fund.state)
            let json = Payloads.make(try incident.body(state: fund.state, member: member), for: fund.state, id: try ProposalOptions.validId(id), expires: try expiry(time, "1h"))
            let payload = try Payload(json)
            if let seq = try fund.recorded(payload) { return reportAlreadyRecorded(seq, id: payload.header.id, json: self.json) }
            let privateKey = try signer.privateKey()
            let entry = try fund.submit(.claim, payload: json, signatures: try Payloads.sign(json, with: [privateKey]), time: time)
            reportAppended(entry, fund, json: self.json, "appended entry \(entry.seq): claim \(payload.header.id) filed by \(member)")
        }
    }
}

struct PetitionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "petition",
        abstract: "Raise a claim by a petition of affected users.",
        discussion: "Each petitioner makes a key once with: backstop key generate --out me (it writes me.key.pem and me.pub.pem).",
        subcommands: [Draft.self, Sign.self, Submit.self]
    )

    struct Draft: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the claim payload that petitioners sign.",
            discussion: "Example: backstop petition draft --ledger fund/ --platform \"Broker B\" --description \"...\" --incident-time 2022-02-01T00:00:00Z --accounts 120 --loss USDC=52000 --expires 14d --out petition.json"
        )

        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var incident: IncidentOptions
        @OptionGroup var proposal: ProposalOptions

        func run() throws {
            let state = try readFund(try options.location())
            let time = try clock.time()
            var json = Payloads.make(try incident.body(state: state, member: nil), for: state, id: try proposal.payloadId(), expires: try expiry(time, proposal.expires))
            if state.version >= 2, var fields = json.objectValue {
                // Derived from the content, so that no one can take the petition's id first.
                let derived = ClaimPayload.petitionId(json)
                if let given = proposal.id, given != derived {
                    throw CLIError.badInput("--id \(SafeText.quoted(given)): in this fund a petition's id is derived from its content (here \(derived)); leave --id out")
                }
                fields["id"] = .string(derived)
                json = .object(fields)
            }
            let payload: Payload
            do {
                payload = try Payload(json)
                try state.dryRun(payload, at: time)
            } catch {
                throw FundError(error.rule, "before anyone signs: \(error.reason). Nothing was written.")
            }
            try writePayload(json, to: proposal.out)
            printScreen(Screen(payload, state: state))
            print("wrote \(proposal.out): it needs \(state.petitionThreshold) signatures from distinct petitioner keys")
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a petition after reading it: writes OUT (the signature) and, beside it, the signer's public key.",
            discussion: """
                Example: backstop petition sign --key me.key.pem --petition petition.json --out sigs/alice.sig (also writes sigs/alice.pub.pem)
                Make a key first with: backstop key generate --out me
                """
        )

        @OptionGroup var signer: SignerOptions

        @Option(help: "The petition payload.")
        var petition: String

        @Option(help: "Where to write the signature, NAME.sig; NAME.pub.pem is written beside it.")
        var out: String

        @Option(help: "A copy of the ledger, to check the petition against the fund.")
        var ledger: String?

        @Flag(help: "Sign without asking, even when there are warnings (for scripts).")
        var yes = false

        @Option(help: ArgumentHelp("The time to judge expiry at (default: now). For tests.", visibility: .private))
        var now: String?

        func run() throws {
            let (payload, bytes) = try readPayload(petition)
            guard let claim = payload.body as? ClaimPayload, claim.member == nil else { throw CLIError.badInput("\(SafeText.escape(petition)) is not a petition") }
            guard out.hasSuffix(".sig") else { throw CLIError.badInput("--out must end in .sig") }
            let folder = try ledger.map(LedgerLocation.init)
            var screen = Screen(payload, state: try folder.map(readFund))
            let privateKey = try signer.privateKey()
            let role = screen.signer(privateKey.publicKey, payload: payload)
            try addTimeAndLedgerWarnings(&screen, payload, state: screen.state, folder: folder, now: now)
            print("You are signing this petition:")
            printScreen(screen, signer: role)
            try confirm(screen, yes: yes)
            // The key goes beside the signature; one already there must be this very key.
            let publicPath = String(out.dropLast(4)) + ".pub.pem"
            let keyExists = FileManager.default.fileExists(atPath: publicPath)
            if keyExists, try Files.publicKey(publicPath) != privateKey.publicKey {
                throw CLIError.badInput("\(SafeText.escape(publicPath)) already exists and holds another key; choose another --out")
            }
            try Files.writeNew(out, try privateKey.signature(for: bytes).derRepresentation, mode: 0o644, what: "signature file")
            if !keyExists { try Files.writeNew(publicPath, Array(privateKey.publicKey.pemRepresentation.utf8), mode: 0o644, what: "public key file") }
            print("signed the petition into \(out) and \(publicPath)")
        }
    }

    struct Submit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "File the petition's claim when enough distinct petitioners signed.",
            discussion: "Example: backstop petition submit --ledger fund/ --petition petition.json --signatures sigs/ more-sigs/"
        )

        @OptionGroup var options: LedgerOptions
        @OptionGroup var waiting: WaitOptions

        @Option(help: "The petition payload.")
        var petition: String

        @Option(parsing: .upToNextOption, help: "Folders of NAME.sig files (each with NAME.pub.pem beside it), or .sig files.")
        var signatures: [String] = []

        @Flag(help: "Print the appended entry as JSON (ok, seq, kind, id, hash, time, petitioners).")
        var json = false

        func run() throws {
            let (payload, bytes) = try readPayload(petition)
            guard let claim = payload.body as? ClaimPayload, claim.member == nil else { throw CLIError.badInput("\(SafeText.escape(petition)) is not a petition") }
            guard !signatures.isEmpty else { throw CLIError.badInput("give the petitioners' signatures with --signatures FOLDER") }
            let files = try Files.signatures(signatures, option: "--signatures")
            let fund = try openFund(try options.location(), wait: waiting.wait)
            if let seq = try fund.recorded(payload) { return reportAlreadyRecorded(seq, id: payload.header.id, json: json) }
            let (entry, intake) = try fund.submit(payloadBytes: bytes, files: files, time: try options.writeTime())
            var text = "appended entry \(entry.seq): claim filed by a petition of \(entry.signatures.count) distinct petitioners"
            if !intake.setAside.isEmpty { text += "\nset aside: \(intake.setAside)" }
            reportAppended(entry, fund, json: json, extra: ["petitioners": .integer(Int64(entry.signatures.count))], text)
        }
    }
}

func expiry(_ time: Timestamp, _ text: String) throws -> Timestamp {
    guard let expires = time.adding(seconds: try parseDuration(text, option: "--expires")) else { throw CLIError.badInput("--expires runs past year 9999") }
    return expires
}
