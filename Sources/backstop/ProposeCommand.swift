import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

struct ProposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "propose",
        abstract: "Write a delegate action's payload for the delegates to sign (backstop approve or openssl).",
        discussion: "Then: backstop submit --ledger DIR --proposal FILE --signature SIG ...",
        subcommands: [Admit.self, MemberStatus.self, MemberKey.self, Release.self, Cancel.self, Settle.self, Reject.self, Rotate.self, Policy.self]
    )

    /// Builds the payload of `kind` from the ledger's current state and writes it.
    static func write(_ kind: EntryKind, _ options: LedgerOptions, _ proposal: ProposalOptions, _ fields: (FundState) throws -> [String: JSONValue]) throws {
        let state = try readFund(options)
        let payload = Payloads.make(kind, for: state, id: proposal.id ?? Payloads.newId(),
                                    expires: try expiry(try options.time(), proposal.expires), fields: try fields(state))
        try writePayload(payload, to: proposal.out)
        for line in describe(payload, state: state) { print("  " + line) }
        print("wrote \(proposal.out): needs \(state.threshold) of the \(state.delegates.count) delegates of set v\(state.delegateSet)")
    }

    struct Admit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Admit a member platform.", discussion: "Example: backstop propose admit --ledger fund/ --member exchange-a --platform \"Exchange A\" --key exchange-a.pub.pem --size 250000000 --out admit.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The member's id (letters, digits, . _ -).") var member: String
        @Option(help: "The platform's name.") var platform: String
        @Option(help: "The member's public key.") var key: String
        @Option(help: "Declared size in dues-asset units, which scales its dues.") var size: String
        func run() throws {
            try ProposeCommand.write(.admit, options, proposal) { state in
                let size = size == "0" ? Amount.zero : try parseAmount(size, asset: state.policy.asset, state: state, option: "--size")
                return ["member": .string(member), "platform": .string(platform), "key": .string(Hex.encode(try Files.publicKey(key).derRepresentation)), "size": .string(size.description)]
            }
        }
    }

    struct MemberStatus: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "member-status", abstract: "Suspend or reinstate a member.", discussion: "Example: backstop propose member-status --ledger fund/ --member broker-b --status suspended --reason \"assessment overdue\" --out suspend.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The member's id.") var member: String
        @Option(help: "active or suspended.") var status: String
        @Option(help: "Why.") var reason: String
        func run() throws {
            try ProposeCommand.write(.memberStatus, options, proposal) { _ in ["member": .string(member), "status": .string(status), "reason": .string(reason)] }
        }
    }

    struct MemberKey: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "member-key", abstract: "Replace a member's key (signed by its current key and the delegates).", discussion: "Example: backstop propose member-key --ledger fund/ --member exchange-a --key new.pub.pem --out rotate-key.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The member's id.") var member: String
        @Option(help: "The new public key.") var key: String
        func run() throws {
            try ProposeCommand.write(.memberKey, options, proposal) { _ in ["member": .string(member), "key": .string(Hex.encode(try Files.publicKey(key).derRepresentation))] }
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Release money for a claim (reserved at approval, paid at settlement after the delay).", discussion: "Example: backstop propose release --ledger fund/ --claim breach-1 --pay ETH=1000@0xVictimsPool --pay BTC=100@bc1qvictims --expires 72h --out release.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The claim's id.") var claim: String
        @Option(help: "A payout as ASSET=AMOUNT@DESTINATION, amount in asset units (repeat).") var pay: [String] = []
        @Option(help: "Who receives the payouts.") var payee: String?
        func run() throws {
            try ProposeCommand.write(.release, options, proposal) { state in
                guard state.claims[claim] != nil else { throw CLIError.badInput("unknown claim \(claim)") }
                guard !pay.isEmpty else { throw CLIError.badInput("give at least one --pay ASSET=AMOUNT@DESTINATION") }
                let payouts: [JSONValue] = try pay.map { item in
                    let parts = item.split(separator: "@", maxSplits: 1).map(String.init)
                    let head = parts.first?.split(separator: "=", maxSplits: 1).map(String.init) ?? []
                    guard parts.count == 2, head.count == 2, !parts[1].isEmpty else { throw CLIError.badInput("--pay \(item): expected ASSET=AMOUNT@DESTINATION, such as ETH=1000@0xabc") }
                    let amount = try parseAmount(head[1], asset: head[0], state: state, option: "--pay \(head[0])")
                    return ["asset": .string(head[0]), "amount": .string(amount.description), "payee": .string(payee ?? "claimants of \(claim)"), "destination": .string(parts[1])]
                }
                return ["claim": .string(claim), "payouts": .array(payouts)]
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a pending release, freeing its reservation.", discussion: "Example: backstop propose cancel --ledger fund/ --release r-1 --reason \"destination compromised\" --out cancel.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The release's id.") var release: String
        @Option(help: "Why.") var reason: String
        func run() throws { try ProposeCommand.write(.cancel, options, proposal) { _ in ["release": .string(release), "reason": .string(reason)] } }
    }

    struct Settle: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that a pending release was paid (after the release delay).", discussion: "Example: backstop propose settle --ledger fund/ --release r-1 --reference 0xpayout-tx --out settle.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The release's id.") var release: String
        @Option(help: "The payout reference, such as the transaction id.") var reference: String
        func run() throws { try ProposeCommand.write(.settle, options, proposal) { _ in ["release": .string(release), "reference": .string(reference)] } }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a claim, with a reason.", discussion: "Example: backstop propose reject --ledger fund/ --claim c-7 --reason \"no evidence of loss\" --out reject.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The claim's id.") var claim: String
        @Option(help: "Why.") var reason: String
        func run() throws { try ProposeCommand.write(.reject, options, proposal) { _ in ["claim": .string(claim), "reason": .string(reason)] } }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace the delegate set (signed by the threshold of the current AND the new set).", discussion: "Example: backstop propose rotate --ledger fund/ --delegate Binance=d1.pub.pem ... --threshold 4 --out rotate.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "A delegate of the new set as PLATFORM=PUBLIC-KEY.pem (repeat).") var delegate: [String] = []
        @Option(help: "Approvals needed in the new set.") var threshold: Int
        @Option(help: "Petition threshold from now on (default: unchanged).") var petitionThreshold: Int?
        func run() throws {
            try ProposeCommand.write(.rotate, options, proposal) { state in
                ["delegates": Payloads.json(try parseDelegates(delegate)), "threshold": .integer(Int64(threshold)),
                 "petitionThreshold": .integer(Int64(petitionThreshold ?? state.petitionThreshold))]
            }
        }
    }

    struct Policy: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the contribution policy and the release delay.", discussion: "Example: backstop propose policy --ledger fund/ --dues-floor 500 --dues-cap 250000 --out policy.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var proposal: ProposalOptions
        @OptionGroup var policy: PolicyOptions
        func run() throws {
            try ProposeCommand.write(.policy, options, proposal) { state in
                ["policy": Payloads.json(try policy.policy(decimals: state.assets[policy.duesAsset])),
                 "releaseDelaySeconds": .integer(try parseDuration(policy.releaseDelay, option: "--release-delay"))]
            }
        }
    }
}
