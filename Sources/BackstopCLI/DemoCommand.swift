import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build the story of the 2022 exchange breach as a fund, step by step, through the same verbs.",
        discussion: """
            Example: backstop demo --ledger demo-ledger
            Uses the PUBLIC demo keys in Keys/demo (never for real funds) and a simulated clock \
            starting 2021-10-01, which the demo sets inside the process (the commands it prints \
            carry no hidden option). Payloads and signatures are written to LEDGER-work/ for \
            inspection. Neither folder may exist.
            """
    )

    @Option(help: "The ledger folder to create (must not exist).")
    var ledger: String

    @Option(help: "Folder of the demo keys.")
    var keys: String = "Keys/demo"

    @Option(help: "Then grow the ledger by this many contributions (signed by the demo members, appended in batches), to time verify on a large real ledger.")
    var contributions: Int = 0

    func run() throws {
        guard !FileManager.default.fileExists(atPath: ledger) else {
            throw CLIError.badInput("\(ledger) already exists; choose another --ledger or remove it")
        }
        guard FileManager.default.fileExists(atPath: "\(keys)/delegate-1.key.pem") else {
            throw CLIError.badInput("demo keys not found in \(keys); run from the repository root or give --keys")
        }
        let work = ledger.hasSuffix("/") ? String(ledger.dropLast()) + "-work" : ledger + "-work"
        guard !FileManager.default.fileExists(atPath: work) else {
            throw CLIError.badInput("\(work) already exists (the demo's work files go there); choose another --ledger or remove it")
        }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        guard (0...10_000_000).contains(contributions) else { throw CLIError.badInput("--contributions \(contributions): 0 to 10,000,000") }
        var demo = Demo(ledger: ledger, keys: keys, work: work)
        try demo.run()
        if contributions > 0 { try demo.grow(by: contributions) }
    }
}

/// The story of CASE.md, run verb by verb with a simulated clock.
private struct Demo {
    let ledger: String
    let keys: String
    let work: String
    var clock = Timestamp("2021-10-01T00:00:00Z")!
    var step = 0
    var releaseSeq: Int64 = 0

    init(ledger: String, keys: String, work: String) {
        self.ledger = ledger
        self.keys = keys
        self.work = work
    }

    func key(_ name: String) -> String { "\(keys)/\(name).key.pem" }
    func pub(_ name: String) -> String { "\(keys)/\(name).pub.pem" }
    func file(_ name: String) -> String { "\(work)/\(name)" }

    mutating func say(_ text: String) {
        step += 1
        print("\n== \(step). \(text)")
    }

    mutating func advance(days: Int64 = 0, hours: Int64 = 0) { clock = clock.adding(seconds: days * 86_400 + hours * 3_600)! }

    /// Runs one verb exactly as the command line would, at the demo's clock.
    func backstop(_ arguments: [String], quiet: Bool = false) throws {
        let echo = arguments.map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " ")
        if !quiet { print("$ backstop \(echo)") }
        Clock.override = clock
        defer { Clock.override = nil }
        var command = try Backstop.parseAsRoot(arguments)
        if quiet { try silenced { try command.run() } } else { try command.run() }
    }

    /// Delegates sign `payload` one by one with `backstop approve` (quietly after the first).
    func approve(_ payload: String, by delegates: [Int], quiet: Bool = false) throws -> [String] {
        try delegates.enumerated().map { index, number in
            let signature = file("\(URL(fileURLWithPath: payload).deletingPathExtension().lastPathComponent).delegate-\(number).sig")
            try backstop(["approve", "--key", key("delegate-\(number)"), "--proposal", payload, "--out", signature], quiet: quiet || index > 0)
            return signature
        }
    }

    /// Drafts a checkpoint; witnesses 1 (against its mirror) and 2 cosign it; it is recorded.
    func checkpoint(named name: String, show: Bool) throws {
        let path = file("\(name).txt")
        let mirror = file("witness-1-mirror")
        try backstop(["checkpoint", "--ledger", ledger, "--out", path], quiet: !show)
        try backstop(["mirror", "--from", ledger, "--to", mirror], quiet: !show)
        try backstop(["cosign", "--ledger", mirror, "--key", key("witness-1"), "--state", file("witness-1-state.json"), "--checkpoint", path], quiet: !show)
        try backstop(["cosign", "--ledger", ledger, "--key", key("witness-2"), "--state", file("witness-2-state.json"), "--checkpoint", path], quiet: true)
        if show { print("(witness 2 cosigned the same way)") }
        try backstop(["submit", "--ledger", ledger, "--checkpoint", path], quiet: !show)
    }

    /// propose, approve by four delegates, submit.
    mutating func delegateAction(_ verb: [String], name: String, by delegates: [Int] = [1, 2, 3, 4], quiet: Bool = false) throws {
        let payload = file("\(name).json")
        try backstop(["propose"] + verb + ["--ledger", ledger, "--out", payload], quiet: quiet)
        let signatures = try approve(payload, by: delegates, quiet: quiet)
        try backstop(["submit", "--ledger", ledger, "--proposal", payload] + signatures.flatMap { ["--signature", $0] }, quiet: quiet)
    }

    mutating func run() throws {
        print("Backstop demo: the January 2022 exchange breach, replayed as an industry fund.")
        print("Keys come from \(keys) (PUBLIC test keys). Work files go to \(work)/.")

        say("Seven delegates from seven platforms draft the fund's genesis: BTC, ETH and USDC; 4 of 7 to release; 100 users to petition; dues 0.01% of a member's size per 30 days, at least 1,000 and at most 100,000 USDC; 24 h between approval and payout; and three independent witnesses, any two of whom cosign the fund's checkpoints, so that its time and history rest on more than the host's word.")
        let platforms = ["Binance", "Coinbase", "Kraken", "OKX", "Bitstamp", "Gemini", "Bitfinex"]
        let genesis = file("genesis.json")
        try backstop(["genesis", "draft", "--name", "Industry Backstop Fund (demo)", "--asset", "BTC:8", "--asset", "ETH:18", "--asset", "USDC:6"]
            + platforms.enumerated().flatMap { ["--delegate", "\($0.element)=\(pub("delegate-\($0.offset + 1)"))"] }
            + (1...3).flatMap { ["--witness", "witness-\($0).demo=\(pub("witness-\($0)"))"] } + ["--witness-quorum", "2", "--out", genesis])
        say("Four delegates sign the genesis offline; the ledger starts.")
        let genesisSignatures = try approve(genesis, by: [1, 2, 3, 4])
        try backstop(["init", "--ledger", ledger, "--genesis", genesis] + genesisSignatures.flatMap { ["--signature", $0] })

        say("The delegates admit three member platforms: a large exchange, a small wallet and a broker.")
        try delegateAction(["admit", "--member", "exchange-a", "--platform", "Exchange A (Singapore)", "--key", pub("exchange-a"), "--size", "500000000", "--jurisdiction", "SG"], name: "admit-exchange-a")
        try delegateAction(["admit", "--member", "wallet-b", "--platform", "Wallet B", "--key", pub("wallet-b"), "--size", "2000000", "--jurisdiction", "EE"], name: "admit-wallet-b")
        try delegateAction(["admit", "--member", "broker-c", "--platform", "Broker C", "--key", pub("broker-c"), "--size", "40000000", "--jurisdiction", "SG"], name: "admit-broker-c")

        say("Before the first dues fall due, the delegates raise the dues cap to 150,000 USDC, cap what one account may receive from a restitution list at about US$250,000 (100 ETH, 6 BTC or 250,000 USDC, the exchange's own programme's limit), and make membership mandatory for platforms registered in Singapore. The proposal starts from the policy in force and changes only what is given; every signer sees the change.")
        try delegateAction(["policy", "--dues-cap", "150000", "--account-cap", "ETH=100", "--account-cap", "BTC=6", "--account-cap", "USDC=250000", "--mandatory-jurisdiction", "SG"], name: "policy-cap")
        try delegateAction(["registry", "--jurisdiction", "SG", "--as-of", "2021-10-01", "--platform", "Exchange A (Singapore)", "--platform", "Broker C", "--platform", "Lion Exchange"], name: "registry-sg")
        print("(the Singapore register lists three platforms; status will name the one that is not a member)")

        say("Two independent assessment firms are registered; each member is assessed under the seed's schedule (two different assessors at founding, one within 3 months, then every 6 months; never the same assessor twice within 14 months). Each assessment is signed by the member and by the assessor.")
        try delegateAction(["assessor", "--assessor", "assessor-1", "--firm", "Northwind Security", "--key", pub("assessor-1")], name: "assessor-1")
        try delegateAction(["assessor", "--assessor", "assessor-2", "--firm", "Harbour Risk Partners", "--key", pub("assessor-2")], name: "assessor-2", quiet: true)
        for (member, assessor, quiet) in [("exchange-a", "assessor-1", false), ("exchange-a", "assessor-2", true), ("wallet-b", "assessor-1", true)] {
            let payload = file("assessment-\(member)-\(assessor).json")
            try backstop(["propose", "assessment", "--ledger", ledger, "--member", member, "--assessor", assessor, "--date", "2021-10-01", "--kind", "founding",
                          "--report-sha256", Hex.encode(try SHA256.hash(Array("\(member) founding report by \(assessor)".utf8))), "--out", payload], quiet: quiet)
            try backstop(["approve", "--key", key(member), "--ledger", ledger, "--proposal", payload, "--out", payload + ".member.sig"], quiet: true)
            try backstop(["approve", "--key", key(assessor), "--ledger", ledger, "--proposal", payload, "--out", payload + ".assessor.sig"], quiet: true)
            try backstop(["submit", "--ledger", ledger, "--proposal", payload, "--signature", payload + ".member.sig", "--signature", payload + ".assessor.sig"], quiet: quiet)
        }
        print("(Exchange A was assessed by both firms; Wallet B by one only; Broker C by none)")

        say("Members pay their dues each period: Exchange A 50,000 USDC (its size scales it), Wallet B the 1,000 USDC floor; Broker C pays once and then stops. Exchange A also puts in ETH and BTC so the fund can cover a real breach.")
        try backstop(["contribute", "--ledger", ledger, "--member", "exchange-a", "--key", key("exchange-a"), "--asset", "ETH", "--amount", "2500", "--reference", "eth-tx-0x01", "--id", "exchange-a-eth-1"])
        try backstop(["contribute", "--ledger", ledger, "--member", "exchange-a", "--key", key("exchange-a"), "--asset", "BTC", "--amount", "200", "--reference", "btc-tx-01", "--id", "exchange-a-btc-1"])
        for period in 0..<4 {
            let quiet = period > 0
            try backstop(["contribute", "--ledger", ledger, "--member", "exchange-a", "--key", key("exchange-a"), "--asset", "USDC", "--amount", "50000", "--reference", "usdc-a-\(period)", "--id", "exchange-a-dues-\(period)"], quiet: quiet)
            try backstop(["contribute", "--ledger", ledger, "--member", "wallet-b", "--key", key("wallet-b"), "--asset", "USDC", "--amount", "1000", "--reference", "usdc-b-\(period)", "--id", "wallet-b-dues-\(period)"], quiet: quiet)
            if period == 0 {
                try backstop(["contribute", "--ledger", ledger, "--member", "broker-c", "--key", key("broker-c"), "--asset", "USDC", "--amount", "4000", "--reference", "usdc-c-0", "--id", "broker-c-dues-0"])
                say("A contribution is only a member's declaration: until the money is seen in the fund's wallets it counts for nothing. The delegates check the wallets and confirm what arrived with a receipt.")
            }
            advance(days: 2)
            try delegateAction(["receipt", "--all-as-declared", "--reference", "fund wallets, period \(period) statement"], name: "receipt-\(period)", quiet: quiet)
            advance(days: 28)
        }
        print("(periods 1 to 3 were paid and confirmed the same way, quietly; Broker C paid only period 0)")

        clock = Timestamp("2022-01-18T02:00:00Z")!
        say("The witnesses cosign a checkpoint of the ledger: each verifies every entry of its own copy first (witness 1 keeps a mirror), checks it extends what it cosigned before, and signs with its clock's time.")
        try checkpoint(named: "checkpoint-dues", show: true)

        say("17 January 2022: attackers bypass two-factor checks at Exchange A and withdraw from 483 accounts. Exchange A files a claim for 4,836.26 ETH, 443.93 BTC and 66,200 USDC, with its incident report as evidence.")
        try Data("Exchange A incident report: new withdrawal addresses were whitelisted without 2FA; 483 accounts affected.\n".utf8).write(to: URL(fileURLWithPath: file("incident-report.txt")))
        try backstop(["claim", "file", "--ledger", ledger, "--member", "exchange-a", "--key", key("exchange-a"), "--id", "breach-2022-01",
                      "--platform", "Exchange A (Singapore)", "--description", "2FA bypass: withdrawals to newly whitelisted addresses", "--incident-time", "2022-01-17T00:00:00Z",
                      "--accounts", "483", "--loss", "ETH=4836.26", "--loss", "BTC=443.93", "--loss", "USDC=66200", "--evidence", file("incident-report.txt")])

        say("Broker C was breached too, but it stopped paying its dues and is in arrears: its own claim is refused.")
        do {
            try backstop(["claim", "file", "--ledger", ledger, "--member", "broker-c", "--key", key("broker-c"),
                          "--platform", "Broker C", "--description", "hot wallet drained", "--incident-time", "2022-01-17T00:00:00Z", "--accounts", "120", "--loss", "USDC=52000"])
        } catch let error as FundError {
            print("refused, as the rules require: \(error.reason)")
        }

        say("Broker C's users raise the claim themselves: a petition signed by 100 distinct users.")
        let petition = file("petition.json")
        try backstop(["petition", "draft", "--ledger", ledger, "--platform", "Broker C",
                      "--description", "hot wallet drained; the operator has not filed", "--incident-time", "2022-01-17T00:00:00Z", "--accounts", "120",
                      "--loss", "USDC=52000", "--expires", "14d", "--out", petition])
        let signatures = file("petition-signatures")
        try FileManager.default.createDirectory(atPath: signatures, withIntermediateDirectories: true)
        for user in 1...100 {
            let userKey = file("petition-signatures/user-\(user).key.pem")
            try Data(try PrivateKey(generatingOn: user % 4 == 0 ? .secp256k1 : .p256).pemRepresentation().utf8).write(to: URL(fileURLWithPath: userKey))
            try backstop(["petition", "sign", "--key", userKey, "--petition", petition, "--out", "\(signatures)/user-\(user).sig"], quiet: user > 1)
            try FileManager.default.removeItem(atPath: userKey)
        }
        print("(users 2 to 100 signed the same way)")
        try backstop(["petition", "submit", "--ledger", ledger, "--petition", petition, "--signatures", signatures])

        advance(days: 2)
        say("Before any release, the delegates attest the fund's reserves: what its wallets actually hold, per asset, with the addresses. A release may never exceed the last attestation, less what is reserved and paid since.")
        try delegateAction(["reserves", "--as-of", "2022-01-20", "--hold", "ETH=2500@0xfund-eth", "--hold", "BTC=200@bc1qfund-btc,bc1qfund-cold", "--hold", "USDC=208000@0xfund-usdc"], name: "reserves-2022-01")

        say("Exchange A prepares the restitution list of its 483 affected accounts: per account and asset, the amount owed. Account references are salted and hashed, so the list reveals no one; each user gets a proof file of their own. The list is checked against the fund's per-account cap.")
        let accounts = file("restitution-accounts.csv")
        try Data(Self.restitutionCSV(accounts: 483, totals: [("ETH", 18, Amount(minorUnits: "1500000000000000000000")!), ("BTC", 8, Amount(12_000_000_000)), ("USDC", 6, Amount(66_200_000_000))]).utf8)
            .write(to: URL(fileURLWithPath: accounts))
        try backstop(["restitution", "build", "--ledger", ledger, "--accounts", accounts, "--destination", "restitution-pool-exchange-a", "--out", file("restitution")])

        say("The delegates review Exchange A's claim and propose a partial release: 1,500 ETH, 120 BTC and the full 66,200 USDC, to the restitution pool that pays the list: its root, totals and largest amount are part of what they sign.")
        let release = file("release-1.json")
        try backstop(["propose", "release", "--ledger", ledger, "--id", "release-1", "--claim", "breach-2022-01",
                      "--pay", "ETH=1500@restitution-pool-exchange-a", "--pay", "BTC=120@restitution-pool-exchange-a", "--pay", "USDC=66200@restitution-pool-exchange-a",
                      "--restitution", file("restitution/summary.json"), "--payee", "Exchange A claimants", "--out", release])
        var releaseSignatures = try approve(release, by: [1, 2, 3])

        say("Anyone can see where the release stands, like a multisig wallet's queue: who signed, who has not, whether it would be accepted now.")
        do {
            try backstop(["check", "--ledger", ledger, "--proposal", release] + releaseSignatures)
        } catch let code as ExitCode where code.rawValue == 1 {
            print("(exit 1: not yet acceptable)")
        }

        say("Only three delegates have signed so far. Submitting now is refused, and the ledger is unchanged.")
        do {
            try backstop(["submit", "--ledger", ledger, "--proposal", release] + releaseSignatures.flatMap { ["--signature", $0] })
        } catch let error as FundError {
            print("refused: \(error.reason)")
            print("Three signatures are not four: no money can move until a fourth delegate agrees.")
        }

        say("Delegate 5 signs on an offline machine with plain openssl, no Backstop needed.")
        let opensslSignature = file("release-1.delegate-5.sig")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl", "dgst", "-sha256", "-sign", key("delegate-5"), "-out", opensslSignature, release]
        print("$ openssl dgst -sha256 -sign \(key("delegate-5")) -out \(opensslSignature) \(release)")
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CLIError.badInput("openssl could not sign; is it installed?") }
        releaseSignatures.append(opensslSignature)
        try backstop(["submit", "--ledger", ledger, "--proposal", release] + releaseSignatures.flatMap { ["--signature", $0] })
        releaseSeq = try Fund.verify(file: URL(fileURLWithPath: ledger).appendingPathComponent("ledger.jsonl")).0.entryCount - 1

        say("The witnesses cosign a checkpoint that includes the release: the 24-hour delay runs from the time they saw it, not from a time the host chose.")
        try checkpoint(named: "checkpoint-release", show: false)
        print("(witnesses 1 and 2 cosigned at \(clock); the release is witnessed from then)")

        say("23 hours later the host would like to pay already. The settlement is drafted and signed, but the witnesses' latest cosigned time is 23 hours after the release: refused.")
        advance(hours: 23)
        try checkpoint(named: "checkpoint-23h", show: false)
        let settle = file("settle-1.json")
        try backstop(["propose", "settle", "--ledger", ledger, "--release", "release-1", "--reference", "eth:0xpayout1 btc:payout2 usdc:0xpayout3", "--expires", "72h", "--out", settle])
        let settleSignatures = try approve(settle, by: [2, 4, 6, 7])
        do {
            try backstop(["submit", "--ledger", ledger, "--proposal", settle] + settleSignatures.flatMap { ["--signature", $0] })
        } catch let error as FundError {
            print("refused: \(error.reason)")
        }

        say("After 24 hours of witnessed time, with a checkpoint cosigned then, the payout is made and recorded.")
        advance(hours: 1)
        try checkpoint(named: "checkpoint-24h", show: false)
        try backstop(["submit", "--ledger", ledger, "--proposal", settle] + settleSignatures.flatMap { ["--signature", $0] })

        say("Exchange A's claimants can prove the release is on the ledger the witnesses cosigned, to anyone, without the ledger: an inclusion proof against the checkpoint, checked with the witnesses' public keys.")
        let proof = file("release-1.tlog-proof")
        try backstop(["prove", "inclusion", "--ledger", ledger, "--seq", String(releaseSeq), "--checkpoint", file("checkpoint-24h.txt"), "--out", proof])
        let fundId = Hex.encode(try readFund(URL(fileURLWithPath: ledger)).fundId)
        try backstop(["check-proof", "--proof", proof] + (1...3).flatMap { ["--witness", "witness-\($0).demo=\(pub("witness-\($0)"))"] } + ["--quorum", "2", "--fund-id", fundId])

        say("One of the 483 affected users checks their own share with the proof file Exchange A gave them: their account and amounts are in the list that the settled release paid, and they see no one else's.")
        try backstop(["restitution", "check", "--proof", file("restitution/proofs/proof-000042.json"), "--ledger", ledger])

        say("Anyone can now verify the whole ledger from the file alone: every link, signature and rule.")
        try backstop(["verify", "--ledger", ledger])

        say("The fund's status.")
        try backstop(["status", "--ledger", ledger])
    }

    /// A synthetic restitution list: `accounts` accounts ("acct-0001"...), each owed a share
    /// of every total weighted 1 to 7, the shares summing exactly to the totals.
    static func restitutionCSV(accounts: Int, totals: [(asset: String, decimals: Int, total: Amount)]) -> String {
        let weights = (0..<accounts).map { UInt($0 % 7 + 1) }
        let sum = weights.reduce(0, +)
        var csv = "account,asset,amount\n"
        var shares: [[Amount]] = []
        for (_, _, total) in totals {
            var given = Amount.zero
            var row: [Amount] = []
            for (index, weight) in weights.enumerated() {
                let share = index == accounts - 1 ? total - given : Amount(total.minorUnits * .init(weight) / .init(sum))
                given += share
                row.append(share)
            }
            shares.append(row)
        }
        for index in 0..<accounts {
            for (column, (asset, decimals, _)) in totals.enumerated() {
                csv += "acct-\(String(format: "%04d", index + 1)),\(asset),\(shares[column][index].decimalString(decimals: decimals))\n"
            }
        }
        return csv
    }

    /// Appends `count` contributions by the three members, a minute apart in batches of
    /// 1,000 (each batch one write and one fsync), then verifies the whole ledger.
    mutating func grow(by count: Int) throws {
        say("Growing the ledger by \(count) contributions of the three members, in batches of 1,000, then verifying it whole.")
        let members = try ["exchange-a", "wallet-b", "broker-c"].map { ($0, try Files.privateKey(key($0), passphraseFile: nil)) }
        advance(days: 1)
        let start = clock
        let fund = try Fund.open(at: URL(fileURLWithPath: ledger), clock: { [start] in start })
        defer { fund.close() }
        var done = 0
        while done < count {
            let size = min(1_000, count - done)
            let state = fund.state
            let items = try BenchLedger.sign((0..<size).map { index in
                let (member, key) = members[(done + index) % members.count]
                let payload = Payloads.make(ContributionPayload(member: member, asset: "USDC", amount: Amount(1_000_000), period: state.period(of: start),
                                                                reference: "grow-\(done + index)"), for: state, expires: start.adding(seconds: 86_400)!)
                return (EntryKind.contribution, payload, [key])
            })
            try fund.submit(batch: items, time: start)
            done += size
            if count >= 10_000 && done % 100_000 == 0 { print("\(done) contributions appended") }
        }
        print("appended \(count) contributions; the ledger holds \(fund.state.entryCount) entries")
        fund.close()
        try backstop(["verify", "--ledger", ledger])
    }
}

/// Runs `body` with standard output sent to /dev/null.
func silenced(_ body: () throws -> Void) throws {
    fflush(nil)
    let saved = dup(1)
    let null = open("/dev/null", O_WRONLY)
    dup2(null, 1)
    close(null)
    defer {
        fflush(nil)
        dup2(saved, 1)
        close(saved)
    }
    try body()
}
