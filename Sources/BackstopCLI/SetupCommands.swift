import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// Dues policy options of `genesis draft`.
struct PolicyOptions: ParsableArguments {
    @Option(help: "The asset dues are paid in (fixed for the fund's life).")
    var duesAsset: String = "USDC"

    @Option(help: "Dues per period = declared size × this / 1,000,000.")
    var duesRatePerMillion: Int64 = 100

    @Option(help: "Least dues per period, in asset units.")
    var duesFloor: String = "1000"

    @Option(help: "Most dues per period, in asset units.")
    var duesCap: String = "100000"

    @Option(help: "Length of a dues period (fixed for the fund's life).")
    var period: String = "30d"

    @Option(help: "Grace after a period before unpaid dues put a member in arrears.")
    var grace: String = "7d"

    @Option(help: "Delay between a release's approval and its earliest settlement.")
    var releaseDelay: String = "24h"

    func policy(assets: [(symbol: String, decimals: Int)]) throws -> ContributionPolicy {
        guard let decimals = assets.first(where: { $0.symbol == duesAsset })?.decimals else {
            let held = assets.map(\.symbol)
            throw CLIError.badInput("--dues-asset \(SafeText.quoted(duesAsset)) is not one of the --asset options\(Identifiers.didYouMean(duesAsset, among: held)) (\(held.joined(separator: ", ")))")
        }
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
        guard parts.count == 2 else { throw CLIError.badInput("--delegate \(SafeText.quoted(item)): expected PLATFORM=PUBLIC-KEY.pem") }
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
            abstract: "Write the genesis payload for the delegates to sign, after every check init will make.",
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

        @OptionGroup var witnesses: WitnessOptions

        @Option(help: "How long the delegates have to sign it.")
        var expires: String = "7d"

        @Option(help: ArgumentHelp("Time the expiry counts from (default: now).", visibility: .private))
        var now: String?

        @Option(help: "Where to write the payload (must not exist).")
        var out: String

        func run() throws {
            var assets: [(symbol: String, decimals: Int)] = []
            for item in asset {
                let parts = item.split(separator: ":").map(String.init)
                guard parts.count == 2, Identifiers.isAssetSymbol(parts[0]), let decimals = Int(parts[1]), FundLimits.decimals.contains(decimals) else {
                    throw CLIError.badInput("--asset \(SafeText.quoted(item)): expected SYMBOL:DECIMALS, a symbol of 1 to 12 of A-Z 0-9 and 0 to 36 decimals, such as ETH:18")
                }
                assets.append((parts[0], decimals))
            }
            guard !assets.isEmpty else { throw CLIError.badInput("give at least one --asset SYMBOL:DECIMALS") }
            let delegates = try parseDelegates(delegate)
            guard !delegates.isEmpty else { throw CLIError.badInput("give the delegates with --delegate PLATFORM=PUBLIC-KEY.pem") }
            let now = try parseNow(self.now)
            let witnesses = try self.witnesses.policy() ?? .delegates
            let json = Payloads.genesis(
                expires: try expiry(now, expires), name: name, assets: assets, delegates: delegates,
                threshold: threshold, petitionThreshold: petitionThreshold, policy: try policy.policy(assets: assets),
                releaseDelaySeconds: try parseDuration(policy.releaseDelay, option: "--release-delay"), witnesses: witnesses)
            // Every check init makes, but the signatures, before anyone signs.
            let payload: Payload
            do {
                payload = try Payload(json, expected: .genesis)
                _ = try FundState.preview(genesis: payload, at: now)
            } catch {
                throw FundError(error.rule, "before anyone signs: \(error.reason). Nothing was written.")
            }
            try writePayload(json, to: out)
            printScreen(Screen(payload, state: nil))
            print("wrote \(out); \(threshold) of the \(delegates.count) delegates sign it (backstop approve), then: backstop init --ledger DIR --genesis \(out) --signature ...")
        }
    }
}

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Start a ledger from a genesis payload signed by enough of its delegates.",
        discussion: "Example: backstop init --ledger fund/ --genesis genesis.json --signature d1.sig d2.sig d3.sig d4.sig (files or folders)"
    )

    @OptionGroup var options: LedgerOptions

    @Option(help: "The genesis payload.")
    var genesis: String

    @Option(parsing: .upToNextOption, help: "Delegates' DER signatures of the genesis: files, or folders of .sig files.")
    var signature: [String] = []

    @Flag(help: "Print the fund id as JSON.")
    var json = false

    func run() throws {
        let bytes = try Files.read(genesis, what: "genesis file")
        let files = try Files.signatures(signature, option: "--signature")
        let location = try options.location()
        let fund: Fund
        switch location {
        case .folder(let folder):
            fund = try Fund.create(at: folder, genesisBytes: bytes, files: files, time: try options.writeTime()).0
        case .store(let text, let opener):
            let storage = try opener.open(text, forWriting: true, create: true, lockWaitSeconds: 0)
            do { fund = try Fund.create(storage: storage, genesisBytes: bytes, files: files, time: try options.writeTime()).0 } catch {
                storage.close()
                throw error
            }
        case .service(let url):
            throw CLIError.badInput("--ledger \(SafeText.escape(url)) is a service; a ledger is started in a folder or a database")
        }
        defer { fund.close() }
        if json { return printJSON(["ok": true, "fundId": .string(Hex.encode(fund.state.fundId)), "ledger": .string(location.display)]) }
        print("created the ledger in \(location.display)")
        print("fund id \(Hex.encode(fund.state.fundId))  (give this to auditors: backstop verify --fund-id)")
    }
}
