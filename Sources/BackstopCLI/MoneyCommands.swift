import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// A time option: YYYY-MM-DDTHH:MM:SSZ, or a date YYYY-MM-DD (midnight UTC).
func parseTime(_ text: String, option: String) throws -> Timestamp {
    if let time = Timestamp(text) ?? Timestamp(text + "T00:00:00Z") { return time }
    throw CLIError.badInput("\(option) \(SafeText.quoted(text)): expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
}

extension ProposeCommand {
    struct Receipt: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Confirm declared contributions with what was actually received (only confirmed money counts).",
            discussion: """
                Example: backstop propose receipt --ledger fund/ --contribution exchange-a:dues-7=49500 --reference "bank statement 2022-01" --out receipt.json
                --contribution MEMBER:ID=AMOUNT confirms one declaration with the amount received, \
                in asset units (less than declared when less arrived; 0 when nothing did); \
                MEMBER:ID alone confirms it as declared. --all-as-declared confirms every \
                declaration still awaiting a receipt (up to 1,000) as declared: check each line of \
                the screen against the wallets before anyone signs.
                """
        )
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "MEMBER:ID or MEMBER:ID=RECEIVED, received in asset units (repeat).") var contribution: [String] = []
        @Flag(help: "Confirm every declaration awaiting a receipt, as declared.") var allAsDeclared = false
        @Option(help: "Where the money was seen: statement, block range.") var reference: String
        func run() throws {
            try ProposeCommand.write(options, clock, proposal) { state in
                let now = try clock.time()
                var confirmations: [ReceiptPayload.Confirmation] = []
                guard contribution.isEmpty != !allAsDeclared else {
                    throw CLIError.badInput("give --contribution MEMBER:ID[=RECEIVED] (repeat) for what arrived, or --all-as-declared")
                }
                if allAsDeclared {
                    let pending = state.members.keys.sorted().flatMap { state.unconfirmed(member: $0, at: now).pending }
                    guard !pending.isEmpty else { throw CLIError.badInput("no declared contribution awaits a receipt") }
                    confirmations = pending.prefix(1_000).map { .init(member: $0.member, contribution: $0.id, asset: $0.asset, received: $0.amount) }
                }
                for item in contribution {
                    let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                    let names = parts[0].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                    guard names.count == 2, !names[0].isEmpty, !names[1].isEmpty, parts.count == 1 || !parts[1].isEmpty else {
                        throw CLIError.badInput("--contribution \(SafeText.quoted(item)): expected MEMBER:ID or MEMBER:ID=AMOUNT, with an amount after =")
                    }
                    guard let declared = state.declarations[FundState.declarationKey(member: names[0], id: names[1])] else {
                        throw CLIError.badInput("--contribution \(SafeText.quoted(item)): member \(SafeText.quoted(names[0])) has no contribution \(SafeText.quoted(names[1])) awaiting a receipt")
                    }
                    let received = parts.count == 2 ? (parts[1] == "0" ? Amount.zero : try parseAmount(parts[1], asset: declared.asset, state: state, option: "--contribution \(SafeText.escape(item))")) : declared.amount
                    confirmations.append(.init(member: declared.member, contribution: declared.id, asset: declared.asset, received: received))
                }
                return ReceiptPayload(confirmations: confirmations, reference: reference)
            }
        }
    }

    struct Reserves: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Attest what the fund's wallets hold per asset (proof of reserves); releases may not exceed it.",
            discussion: "Example: backstop propose reserves --ledger fund/ --as-of 2022-01-20 --hold ETH=2500@0xfund1 --hold BTC=200@bc1qfund,bc1qcold --out reserves.json\nAn asset not given is attested as holding nothing."
        )
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "When the wallets were observed (default: now).") var asOf: String?
        @Option(help: "ASSET=AMOUNT@WALLET[,WALLET...], amount in asset units (repeat, one per asset).") var hold: [String] = []
        func run() throws {
            guard !hold.isEmpty else { throw CLIError.badInput("give at least one --hold ASSET=AMOUNT@WALLET") }
            try ProposeCommand.write(options, clock, proposal) { state in
                let holdings = try hold.map { item -> ReservesPayload.Holding in
                    let (asset, amount, target) = try parseAssetAmountAt(item, option: "--hold", form: "ASSET=AMOUNT@WALLET[,WALLET]", state: state, allowZero: true)
                    let wallets = target.split(separator: ",").map(String.init)
                    guard !wallets.isEmpty, wallets.allSatisfy(Identifiers.isDestination) else {
                        throw CLIError.badInput("--hold \(SafeText.quoted(item)): each wallet is 1 to 200 visible ASCII characters, no spaces")
                    }
                    return .init(asset: asset, amount: amount, wallets: wallets)
                }
                return ReservesPayload(asOf: try asOf.map { try parseTime($0, option: "--as-of") } ?? clock.time(), holdings: holdings)
            }
        }
    }

    struct AssessorRegistration: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "assessor", abstract: "Register an independent assessor with its firm and key (or retire one).",
                                                        discussion: "Example: backstop propose assessor --ledger fund/ --assessor trail --firm \"Trail of Bits\" --key trail.pub.pem --out assessor.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The assessor's id.") var assessor: String
        @Option(help: "The firm.") var firm: String
        @Option(help: "The assessor's public key file.") var key: String
        @Flag(help: "Retire the assessor: it signs no more assessments.") var retire = false
        func run() throws {
            try ProposeCommand.write(options, clock, proposal) { _ in AssessorPayload(assessor: assessor, firm: firm, key: try Files.publicKey(key), active: !retire) }
        }
    }

    struct AssessmentDraft: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "assessment", abstract: "Record an assessment of a member (signed by the member and by the assessor).",
            discussion: "Example: backstop propose assessment --ledger fund/ --member exchange-a --assessor trail --date 2021-10-15 --kind founding --report report.pdf --out assessment.json\nThen each of the two signs it (backstop approve --key ... or openssl) and backstop submit records it."
        )
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The member assessed.") var member: String
        @Option(help: "The registered assessor.") var assessor: String
        @Option(help: "The assessment's date.") var date: String
        @Option(help: "founding, major-upgrade or periodic.") var kind: String
        @Option(help: "The report file (its SHA-256 is recorded), or --report-sha256.") var report: String?
        @Option(help: "The report's SHA-256 in hex.") var reportSha256: String?
        func run() throws {
            guard let assessmentKind = Assessment.Kind(rawValue: kind) else { throw CLIError.badInput("--kind \(SafeText.quoted(kind)): founding, major-upgrade or periodic") }
            guard (report == nil) != (reportSha256 == nil) else { throw CLIError.badInput("give --report FILE or --report-sha256 HEX") }
            let hash: String
            if let report { hash = Hex.encode(try SHA256.hash(try Files.read(report, what: "report file", limit: 1 << 30))) } else {
                guard let given = reportSha256, given.utf8.count == 64, Hex.decode(given) != nil, given == given.lowercased() else {
                    throw CLIError.badInput("--report-sha256: 64 lowercase hex digits")
                }
                hash = given
            }
            try ProposeCommand.write(options, clock, proposal) { state in
                try requireMember(member, state)
                return AssessmentPayload(member: member, assessor: assessor, date: try parseTime(date, option: "--date"), kind: assessmentKind, report: hash)
            }
        }
    }

    struct Registry: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record the platforms registered in a jurisdiction (status lists those not members where membership is mandatory).",
                                                        discussion: "Example: backstop propose registry --ledger fund/ --jurisdiction SG --as-of 2022-01-01 --platform \"Exchange A (Singapore)\" --platform \"Broker C\" --out registry.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The jurisdiction's code.") var jurisdiction: String
        @Option(help: "When the register was read (default: now).") var asOf: String?
        @Option(help: "A registered platform's name (repeat).") var platform: [String] = []
        func run() throws {
            try ProposeCommand.write(options, clock, proposal) { _ in
                RegistryPayload(jurisdiction: jurisdiction, asOf: try asOf.map { try parseTime($0, option: "--as-of") } ?? clock.time(), platforms: platform)
            }
        }
    }
}

struct RestitutionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restitution",
        abstract: "Build a restitution list (root and one proof per account), and let an affected user check their own proof.",
        subcommands: [Build.self, Check.self]
    )

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a restitution list from a CSV of account,asset,amount (amounts in asset units).",
            discussion: """
                Example: backstop restitution build --ledger fund/ --accounts owed.csv --destination 0xrestitution --out list/
                Writes list/summary.json (what propose release --restitution takes), list/leaves.csv \
                (hashed accounts, publishable) and list/proofs/ (one file per account, for that \
                user alone: it holds their account reference and salt). Refuses a list above the \
                fund's per-account cap.
                """
        )
        @OptionGroup var options: LedgerOptions
        @Option(help: "CSV with the header account,asset,amount; amounts in asset units.") var accounts: String
        @Option(help: "The payout destination the list is paid from.") var destination: String
        @Option(help: "A new folder for the list and the proofs.") var out: String
        func run() throws {
            let state = try readFund(try options.location())
            guard Identifiers.isDestination(destination) else { throw CLIError.badInput("--destination: 1 to 200 visible ASCII characters, no spaces") }
            let text = try Files.readText(accounts, what: "accounts file", limit: 1 << 30)
            var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.map(String.init)
            while lines.last?.isEmpty == true { lines.removeLast() }
            guard lines.first?.replacingOccurrences(of: " ", with: "") == "account,asset,amount" else {
                throw CLIError.badInput("accounts file \(accounts): the first line must be the header account,asset,amount")
            }
            var rows: [RestitutionList.Row] = []
            for (index, line) in lines.enumerated().dropFirst() {
                let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                guard cells.count == 3, !cells[0].isEmpty, cells[0].utf8.count <= 256, SafeText.escape(cells[0]) == cells[0] else {
                    throw CLIError.badInput("accounts file \(accounts) line \(index + 1): expected account,asset,amount with a printable account of at most 256 bytes")
                }
                rows.append(.init(account: cells[0], asset: cells[1], amount: try parseAmount(cells[2], asset: cells[1], state: state, option: "accounts file line \(index + 1)")))
            }
            let list: RestitutionList
            do { list = try RestitutionList(rows: rows) } catch { throw CLIError.badInput("accounts file \(accounts): \(error.reason)") }
            let summary = list.summary(destination: destination)
            for (asset, top) in summary.largest.sorted(by: { $0.key < $1.key }) {
                if let cap = state.safeguards.accountCaps[asset], top > cap {
                    throw CLIError.refused("one account is owed \(state.show(top, asset)), above the fund's cap of \(state.show(cap, asset)) per account; nothing was written [rule overAccountCap]")
                }
            }
            let folder = URL(fileURLWithPath: out)
            guard !FileManager.default.fileExists(atPath: out) else { throw CLIError.badInput("--out \(out) already exists; give a new folder") }
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("proofs"), withIntermediateDirectories: true)
            try Files.writeNew(folder.appendingPathComponent("summary.json").path, Canonical.encode(summary.json), mode: 0o644, what: "summary file")
            var leaves = "index,account_hash,asset,amount\n"
            var index = 0
            var accountsFile = "account,proof\n"
            var written = Set<String>()
            for row in list.rows {
                leaves += "\(index),\(Hex.encode(RestitutionList.accountHash(reference: row.account, salt: list.salts[row.account]!))),\(row.asset),\(row.amount)\n"
                index += 1
                guard written.insert(row.account).inserted else { continue }
                let name = String(format: "proof-%06d.json", written.count)
                try Files.writeNew(folder.appendingPathComponent("proofs").appendingPathComponent(name).path, Canonical.encode(try list.proof(for: row.account).json), mode: 0o600, what: "proof file")
                accountsFile += "\(row.account),proofs/\(name)\n"
            }
            try Files.writeNew(folder.appendingPathComponent("leaves.csv").path, Array(leaves.utf8), mode: 0o644, what: "leaves file")
            try Files.writeNew(folder.appendingPathComponent("accounts.csv").path, Array(accountsFile.utf8), mode: 0o600, what: "accounts file")
            let totals = summary.totals.sorted { $0.key < $1.key }.map { state.show($0.value, $0.key) }.joined(separator: ", ")
            print("restitution list: \(summary.accounts) accounts, \(summary.leaves) amounts, \(totals); root \(summary.root)")
            print("wrote \(out)/summary.json (give it to propose release --restitution), leaves.csv (publishable), proofs/ and accounts.csv (private: one proof per account, for that user alone)")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that your account and amount are in a release's restitution list, and whether it was paid.",
            discussion: """
                Example: backstop restitution check --proof proof-000042.json --ledger fund/
                Exit 0 when the proof holds and the release is settled; 1 when the proof does not \
                hold, is in no release, or the release is not settled; 2 for an unusable file.
                """
        )
        @OptionGroup var options: LedgerOptions
        @Option(help: "Your proof file.") var proof: String
        @Flag(help: "Print one JSON object.") var json = false
        func run() throws {
            let bytes = try Files.read(proof, what: "proof file", limit: 1 << 20)
            let parsed: RestitutionProof
            do { parsed = try RestitutionProof(json: try JSONParser.parse(bytes)) } catch let error as FundError {
                throw CLIError.badInput("proof file \(proof): \(error.reason)")
            } catch { throw CLIError.badInput("proof file \(proof) is not JSON: \(error)") }
            let state = try readFund(try options.location())
            guard parsed.isValid else { throw CLIError.refused("the proof does NOT hold: its account, amounts and path do not lead to root \(Hex.encode(parsed.root)); it was altered or belongs to another list") }
            guard let release = state.release(restitutionRoot: parsed.root, size: parsed.size), let list = release.restitution else {
                throw CLIError.refused("the proof holds, but no release of this fund names the list with root \(Hex.encode(parsed.root)) and \(parsed.size) amounts")
            }
            let owed = parsed.items.map { state.show($0.amount, $0.asset) }.joined(separator: ", ")
            for item in parsed.items where item.amount > (list.largest[item.asset] ?? .zero) {
                throw CLIError.refused("the proof's \(item.asset) amount is above the list's stated largest amount: the list summary is false")
            }
            let settled = release.status == .settled
            if json {
                printJSON(["ok": .bool(settled), "account": .string(parsed.account), "release": .string(release.id), "status": .string(release.status.rawValue),
                           "claim": .string(release.claim), "amounts": .array(parsed.items.map { ["asset": .string($0.asset), "amount": .string($0.amount.decimalString(decimals: state.assets[$0.asset] ?? 0))] }),
                           "destination": .string(list.destination), "reference": release.reference.map(JSONValue.string) ?? .null])
            } else {
                print("account \(SafeText.show(parsed.account)) is owed \(owed) in the restitution list of release \(release.id) (claim \(release.claim), \(list.accounts) accounts, root \(list.root.prefix(16))…)")
                print(settled ? "release \(release.id) is settled: paid to \(list.destination), ref \(SafeText.show(release.reference ?? ""))" : "release \(release.id) is \(release.status.rawValue), not settled: nothing was paid yet")
            }
            guard settled else { throw ExitCode(1) }
        }
    }
}
