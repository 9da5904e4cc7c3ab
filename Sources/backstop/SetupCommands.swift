import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// Dues policy options, shared by `genesis draft` and `propose policy`.
struct PolicyOptions: ParsableArguments {
    @Option(help: "The asset dues are paid in.")
    var duesAsset: String = "USDC"

    @Option(help: "Dues per period = declared size × this / 1,000,000.")
    var duesRatePerMillion: Int64 = 100

    @Option(help: "Least dues per period, in asset units.")
    var duesFloor: String = "1000"

    @Option(help: "Most dues per period, in asset units.")
    var duesCap: String = "100000"

    @Option(help: "Length of a dues period.")
    var period: String = "30d"

    @Option(help: "Grace after a period before unpaid dues put a member in arrears.")
    var grace: String = "7d"

    @Option(help: "Delay between a release's approval and its earliest settlement.")
    var releaseDelay: String = "24h"

    func policy(decimals: Int?) throws -> ContributionPolicy {
        guard let decimals else { throw CLIError.badInput("--dues-asset \(duesAsset) is not one of the fund's assets") }
        func amount(_ text: String, _ option: String) throws -> Amount {
            if text == "0" { return .zero }
            do { return try Amount(decimal: text, decimals: decimals, field: option) } catch { throw CLIError.badInput(error.reason) }
        }
        return ContributionPolicy(asset: duesAsset, ratePerMillion: duesRatePerMillion, floor: try amount(duesFloor, "--dues-floor"),
                                  cap: try amount(duesCap, "--dues-cap"), periodSeconds: try parseDuration(period, option: "--period"),
                                  graceSeconds: try parseDuration(grace, option: "--grace"))
    }
}

/// `--delegate PLATFORM=PUB.pem`, read into delegates.
func parseDelegates(_ items: [String]) throws -> [Delegate] {
    try items.map { item in
        let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw CLIError.badInput("--delegate \(item): expected PLATFORM=PUBLIC-KEY.pem") }
        return Delegate(key: try Files.publicKey(parts[1]), platform: parts[0])
    }
}

struct GenesisCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genesis",
        abstract: "Prepare the genesis of a new fund.",
        subcommands: [Draft.self]
    )

    struct Draft: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the genesis payload for the delegates to sign.",
            discussion: """
                Example: backstop genesis draft --name "Industry Backstop Fund" --asset BTC:8 --asset ETH:18 --asset USDC:6 \
                --delegate Binance=d1.pub.pem ... --delegate Kraken=d7.pub.pem --out genesis.json
                Defaults are the proposal's: threshold 4, petition threshold 100, release delay 24h.
                """
        )

        @Option(help: "The fund's name.")
        var name: String

        @Option(help: "An asset as SYMBOL:DECIMALS, such as ETH:18 (repeat).")
        var asset: [String] = []

        @Option(help: "A delegate as PLATFORM=PUBLIC-KEY.pem (repeat; 7 in the proposal).")
        var delegate: [String] = []

        @Option(help: "Distinct delegate approvals needed (a majority).")
        var threshold: Int = 4

        @Option(help: "Distinct petitioner signatures needed to file a claim by petition.")
        var petitionThreshold: Int = 100

        @OptionGroup var policy: PolicyOptions

        @Option(help: "How long the delegates have to sign it.")
        var expires: String = "7d"

        @Option(help: ArgumentHelp("Time the expiry counts from (default: now).", visibility: .hidden))
        var now: String?

        @Option(help: "Where to write the payload (must not exist).")
        var out: String

        func run() throws {
            var assets: [(symbol: String, decimals: Int)] = []
            for item in asset {
                let parts = item.split(separator: ":").map(String.init)
                guard parts.count == 2, let decimals = Int(parts[1]) else { throw CLIError.badInput("--asset \(item): expected SYMBOL:DECIMALS, such as ETH:18") }
                assets.append((parts[0], decimals))
            }
            guard !assets.isEmpty else { throw CLIError.badInput("give at least one --asset SYMBOL:DECIMALS") }
            let delegates = try parseDelegates(delegate)
            guard !delegates.isEmpty else { throw CLIError.badInput("give the delegates with --delegate PLATFORM=PUBLIC-KEY.pem") }
            let contributionPolicy = try policy.policy(decimals: assets.first { $0.symbol == policy.duesAsset }?.decimals)
            let payload = Payloads.genesis(
                expires: try expiry(try parseNow(now), expires), name: name, assets: assets, delegates: delegates,
                threshold: threshold, petitionThreshold: petitionThreshold, policy: contributionPolicy,
                releaseDelaySeconds: try parseDuration(policy.releaseDelay, option: "--release-delay"))
            try writePayload(payload, to: out)
            print("wrote \(out); \(threshold) of the \(delegates.count) delegates sign it (backstop approve), then: backstop init --ledger DIR --genesis \(out) --signature ...")
        }
    }
}

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Start a ledger from a genesis payload signed by enough of its delegates.",
        discussion: "Example: backstop init --ledger fund/ --genesis genesis.json --signature d1.sig --signature d2.sig --signature d3.sig --signature d4.sig"
    )

    @OptionGroup var options: LedgerOptions

    @Option(help: "The genesis payload.")
    var genesis: String

    @Option(help: "A delegate's DER signature of the genesis (repeat).")
    var signature: [String] = []

    @Flag(help: "Print the fund id as JSON.")
    var json = false

    func run() throws {
        let (payload, bytes) = try readPayload(genesis)
        guard try kind(of: payload, path: genesis) == .genesis else { throw CLIError.badInput("\(genesis) is not a genesis payload") }
        var candidates: [(name: String, key: PublicKey)] = []
        for (index, item) in (payload["delegates"]?.arrayValue ?? []).enumerated() {
            if let der = item["key"]?.stringValue.flatMap(Hex.decode), let key = try? PublicKey(derRepresentation: der) {
                candidates.append(("delegate-\(index + 1) (\(item["platform"]?.stringValue ?? "?"))", key))
            }
        }
        let intake = ApprovalIntake(message: bytes, signatureFiles: try readSignatures(signature), candidates: candidates)
        let threshold = Int(payload["threshold"]?.integerValue ?? 0)
        guard intake.signatures.count >= threshold else {
            throw FundError(.threshold, "genesis needs \(threshold) distinct delegate approvals, found \(intake.signatures.count) valid\(intake.setAsideSummary); not signed: \(intake.missing.joined(separator: ", "))")
        }
        let fund = try Fund.create(at: options.url, genesis: payload, signatures: intake.signatures, time: try options.time())
        if json { return printJSON(["fundId": .string(Hex.encode(fund.state.fundId)), "ledger": .string(options.ledger)]) }
        print("created the ledger in \(options.ledger)")
        print("fund id \(Hex.encode(fund.state.fundId))  (give this to auditors: backstop verify --fund-id)")
    }
}
