import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

struct ApproveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Sign a payload file offline, after printing what it says. Needs no ledger.",
        discussion: """
            Example: backstop approve --key delegate-3.key.pem --proposal release.json --out release.delegate-3.sig
            The signature is the same as `openssl dgst -sha256 -sign KEY -out SIG FILE` (but always \
            low-S). Give --ledger to see amounts in asset units and check the fund id.
            """
    )

    @OptionGroup var signer: SignerOptions

    @Option(help: "The payload file to sign.")
    var proposal: String

    @Option(help: "Where to write the DER signature (must not exist).")
    var out: String

    @Option(help: "A copy of the ledger, to show amounts in asset units and check the fund.")
    var ledger: String?

    func run() throws {
        let (payload, bytes) = try readPayload(proposal)
        _ = try kind(of: payload, path: proposal)
        let state = try ledger.map { try readFund(try LedgerOptions(ledger: $0)) }
        print("You are signing:")
        for line in describe(payload, state: state) { print("  " + line) }
        let privateKey = try signer.privateKey()
        let signature = try privateKey.signature(for: bytes)
        try Files.writeNew(out, signature.derRepresentation, mode: 0o644, what: "signature file")
        print("signed with key \(privateKey.publicKey.fingerprint) into \(out)")
    }
}

extension LedgerOptions {
    init(ledger: String) throws {
        self = try LedgerOptions.parse(["--ledger", ledger])
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a payload, signature or key file readably.",
        discussion: "Example: backstop inspect release.json"
    )

    @Argument(help: "A payload (.json), a DER signature, or a PEM key.")
    var file: String

    @Option(help: "A copy of the ledger, to show amounts in asset units.")
    var ledger: String?

    func run() throws {
        let bytes = try Files.read(file, what: "file")
        if let payload = try? JSONParser.parse(bytes) {
            let state = try ledger.map { try readFund(try LedgerOptions(ledger: $0)) }
            let canonical = Canonical.encode(payload) == bytes
            print("payload (\(canonical ? "canonical: these bytes are what is signed" : "NOT canonical: Backstop will refuse to use it"))")
            for line in describe(payload, state: state) { print("  " + line) }
            return
        }
        if let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN") {
            if let key = try? PublicKey(pemRepresentation: text) {
                print("public key: \(key.curve.rawValue), fingerprint \(key.fingerprint)")
            } else {
                print("PEM file: \(text.split(separator: "\n").first ?? "") (a private key is not printed)")
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
        throw CLIError.badInput("\(file) is not a payload, a DER ECDSA signature or a PEM key")
    }
}

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Append a signed proposal when enough of the right people signed it.",
        discussion: """
            Example: backstop submit --ledger fund/ --proposal release.json --signature d1.sig --signature d4.sig ...
            Signatures may come from backstop or openssl, in any order; Backstop finds who made each. \
            Exit 1 with who signed and who did not when the threshold is not met; the ledger is unchanged.
            """
    )

    @OptionGroup var options: LedgerOptions

    @Option(help: "The payload file that was signed.")
    var proposal: String

    @Option(help: "A DER signature file (repeat for each).")
    var signature: [String] = []

    @Flag(help: "Print the appended entry as JSON (seq, kind, id, hash, time).")
    var json = false

    func run() throws {
        let (payload, bytes) = try readPayload(proposal)
        let kind = try kind(of: payload, path: proposal)
        guard kind != .genesis else { throw CLIError.badInput("a genesis payload starts a ledger: use backstop init") }
        guard kind != .claim || payload["filedBy"]?.stringValue == "member" else {
            throw CLIError.badInput("a petition is submitted with backstop petition submit")
        }
        let fund = try Fund.open(at: options.url)
        let entry = try fund.submit(kind, payloadBytes: bytes, signatureFiles: try readSignatures(signature), time: try options.time())
        let names = entry.signatures.map { signature in fund.state.delegateName(signature.publicKey) ?? signature.publicKey.fingerprint }
        var extra: [String: JSONValue] = ["signers": .array(names.map { .string($0) })]
        var text = "appended entry \(entry.seq) (\(kind.rawValue)) signed by \(names.joined(separator: ", "))"
        if kind == .release, let id = payload["id"]?.stringValue, let release = fund.state.releases[id] {
            extra["payableAt"] = .string(release.payableAt.description)
            text += "\nrelease \(id) is pending; payable from \(release.payableAt)"
        }
        reportAppended(entry, fund, json: json, extra: extra, text)
    }
}

struct ContributeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contribute",
        abstract: "Record a member's contribution, signed with the member's key.",
        discussion: """
            Example: backstop contribute --ledger fund/ --member exchange-a --key exchange-a.key.pem --asset USDC --amount 4836.26 --reference 0xabc... --id pay-2026-01
            With --id a retry can never count twice: the same id is refused.
            """
    )

    @OptionGroup var options: LedgerOptions

    @Option(help: "The member's id.")
    var member: String

    @OptionGroup var signer: SignerOptions

    @Option(help: "The asset, such as USDC.")
    var asset: String

    @Option(help: "The amount in asset units, such as 4836.26.")
    var amount: String

    @Option(help: "External reference, such as the on-chain transaction id.")
    var reference: String = "none"

    @Option(help: "The period paid (default: the current one).")
    var period: Int64?

    @Option(help: "A unique id for this contribution (default: random). Reuse it when retrying.")
    var id: String?

    @Flag(help: "Print the appended entry as JSON (seq, kind, id, hash, time).")
    var json = false

    func run() throws {
        let fund = try Fund.open(at: options.url)
        let time = try options.time()
        let state = fund.state
        guard state.members[member] != nil else { throw CLIError.badInput("unknown member \(member)") }
        let minor = try parseAmount(amount, asset: asset, state: state, option: "--amount")
        let payload = Payloads.make(.contribution, for: state, id: id ?? Payloads.newId(), expires: time.adding(seconds: 3_600)!, fields: [
            "member": .string(member), "asset": .string(asset), "amount": .string(minor.description),
            "period": .integer(period ?? state.period(of: time)), "reference": .string(reference),
        ])
        let privateKey = try signer.privateKey()
        let entry = try fund.submit(.contribution, payload: payload, signatures: try Payloads.sign(payload, with: [privateKey]), time: time)
        reportAppended(entry, fund, json: json, "appended entry \(entry.seq): \(member) contributed \(display(minor, asset, state))")
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

    @Option(help: "A loss as ASSET=AMOUNT in asset units, such as ETH=4836.26 (repeat per asset).")
    var loss: [String] = []

    @Option(help: "An evidence document; its SHA-256 is recorded (repeat).")
    var evidence: [String] = []

    func fields(state: FundState, filedBy: String, member: String?) throws -> [String: JSONValue] {
        guard Timestamp(incidentTime) != nil else { throw CLIError.badInput("--incident-time \(incidentTime): expected YYYY-MM-DDTHH:MM:SSZ") }
        guard !loss.isEmpty else { throw CLIError.badInput("give at least one --loss ASSET=AMOUNT") }
        var losses: [String: JSONValue] = [:]
        for item in loss {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw CLIError.badInput("--loss \(item): expected ASSET=AMOUNT, such as ETH=4836.26") }
            losses[parts[0]] = .string(try parseAmount(parts[1], asset: parts[0], state: state, option: "--loss \(parts[0])").description)
        }
        let hashes = try evidence.map { JSONValue.string(Hex.encode(try SHA256.hash(try Files.read($0, what: "evidence file")))) }
        var fields: [String: JSONValue] = [
            "filedBy": .string(filedBy), "platform": .string(platform), "description": .string(description),
            "incidentTime": .string(incidentTime), "accounts": .integer(accounts), "losses": .object(losses), "evidence": .array(hashes),
        ]
        if let member { fields["member"] = .string(member) }
        return fields
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
            discussion: "Example: backstop claim file --ledger fund/ --member exchange-a --key exchange-a.key.pem --platform \"Exchange A\" --description \"2FA bypass\" --incident-time 2022-01-17T00:00:00Z --accounts 483 --loss ETH=4836.26 --loss BTC=443.93"
        )

        @OptionGroup var options: LedgerOptions
        @OptionGroup var incident: IncidentOptions

        @Option(help: "The member's id.")
        var member: String

        @OptionGroup var signer: SignerOptions

        @Option(help: "The claim id (default: random).")
        var id: String?

        @Flag(help: "Print the appended entry as JSON (seq, kind, id, hash, time).")
        var json = false

        func run() throws {
            let fund = try Fund.open(at: options.url)
            let time = try options.time()
            guard fund.state.members[member] != nil else { throw CLIError.badInput("unknown member \(member)") }
            let payload = Payloads.make(.claim, for: fund.state, id: id ?? Payloads.newId(), expires: time.adding(seconds: 3_600)!,
                                        fields: try incident.fields(state: fund.state, filedBy: "member", member: member))
            let privateKey = try signer.privateKey()
            let entry = try fund.submit(.claim, payload: payload, signatures: try Payloads.sign(payload, with: [privateKey]), time: time)
            reportAppended(entry, fund, json: json, "appended entry \(entry.seq): claim \(payload["id"]?.stringValue ?? "") filed by \(member)")
        }
    }
}

struct PetitionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "petition",
        abstract: "Raise a claim by a petition of affected users.",
        subcommands: [Draft.self, Sign.self, Submit.self]
    )

    struct Draft: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the claim payload that petitioners sign.",
            discussion: "Example: backstop petition draft --ledger fund/ --platform \"Broker B\" --description \"...\" --incident-time 2022-02-01T00:00:00Z --accounts 120 --loss USDC=52000 --expires 14d --out petition.json"
        )

        @OptionGroup var options: LedgerOptions
        @OptionGroup var incident: IncidentOptions
        @OptionGroup var proposal: ProposalOptions

        func run() throws {
            let state = try readFund(options)
            let time = try options.time()
            let payload = Payloads.make(.claim, for: state, id: proposal.id ?? Payloads.newId(),
                                        expires: try expiry(time, proposal.expires), fields: try incident.fields(state: state, filedBy: "petition", member: nil))
            try writePayload(payload, to: proposal.out)
            print("wrote \(proposal.out): it needs \(state.petitionThreshold) signatures from distinct petitioner keys")
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a petition: writes OUT (the signature) and, beside it, the signer's public key.",
            discussion: "Example: backstop petition sign --key me.key.pem --petition petition.json --out sigs/alice.sig (also writes sigs/alice.pub.pem)"
        )

        @OptionGroup var signer: SignerOptions

        @Option(help: "The petition payload.")
        var petition: String

        @Option(help: "Where to write the signature, NAME.sig; NAME.pub.pem is written beside it.")
        var out: String

        func run() throws {
            let (payload, bytes) = try readPayload(petition)
            guard try kind(of: payload, path: petition) == .claim, payload["filedBy"]?.stringValue == "petition" else {
                throw CLIError.badInput("\(petition) is not a petition")
            }
            for line in describe(payload, state: nil) { print("  " + line) }
            guard out.hasSuffix(".sig") else { throw CLIError.badInput("--out must end in .sig") }
            let privateKey = try signer.privateKey()
            let publicPath = String(out.dropLast(4)) + ".pub.pem"
            try Files.writeNew(out, try privateKey.signature(for: bytes).derRepresentation, mode: 0o644, what: "signature file")
            try Files.writeNew(publicPath, Array(privateKey.publicKey.pemRepresentation.utf8), mode: 0o644, what: "public key file")
            print("signed the petition into \(out) and \(publicPath)")
        }
    }

    struct Submit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "File the petition's claim when enough distinct petitioners signed.",
            discussion: "Example: backstop petition submit --ledger fund/ --petition petition.json --signatures sigs/"
        )

        @OptionGroup var options: LedgerOptions

        @Option(help: "The petition payload.")
        var petition: String

        @Option(help: "A folder of NAME.sig files, each with NAME.pub.pem beside it.")
        var signatures: String

        @Flag(help: "Print the appended entry as JSON (seq, kind, id, hash, time).")
        var json = false

        func run() throws {
            let (_, bytes) = try readPayload(petition)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: signatures) else {
                throw CLIError.badInput("signature folder \(signatures) cannot be read")
            }
            var pairs: [(key: [UInt8], signature: [UInt8])] = []
            for name in names.sorted() where name.hasSuffix(".sig") {
                let base = URL(fileURLWithPath: signatures).appendingPathComponent(String(name.dropLast(4))).path
                let signature = try Files.read(base + ".sig", what: "signature file")
                // A missing or unreadable key counts as an unsupported key, not as an error.
                let key = (try? Files.publicKey(base + ".pub.pem"))?.derRepresentation ?? []
                pairs.append((key, signature))
            }
            let fund = try Fund.open(at: options.url)
            let entry = try fund.submitPetition(payloadBytes: bytes, pairs: pairs, time: try options.time())
            reportAppended(entry, fund, json: json, extra: ["petitioners": .integer(Int64(entry.signatures.count))],
                           "appended entry \(entry.seq): claim filed by a petition of \(entry.signatures.count) distinct petitioners")
        }
    }
}

func expiry(_ time: Timestamp, _ text: String) throws -> Timestamp {
    guard let expires = time.adding(seconds: try parseDuration(text, option: "--expires")) else { throw CLIError.badInput("--expires runs past year 9999") }
    return expires
}
