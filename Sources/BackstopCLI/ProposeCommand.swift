import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

struct ProposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "propose",
        abstract: "Write a delegate action's payload for the delegates to sign (backstop approve or openssl).",
        discussion: """
            Every propose verb first runs the entry through the fund's rules as if it were \
            recorded now (signatures aside) and refuses what is impossible (an unknown claim or \
            release, more than the balance or the claim's loss, a release that is no longer \
            pending), so that no one signs a payload that cannot be recorded. It warns about \
            what depends on time. Then: backstop submit --ledger DIR --proposal FILE --signature SIG ...
            """,
        subcommands: [Admit.self, MemberStatus.self, MemberKey.self, Release.self, Cancel.self, Settle.self, Reject.self, Rotate.self, Policy.self,
                      Receipt.self, Reserves.self, AssessorRegistration.self, AssessmentDraft.self, Registry.self]
    )

    /// Builds the payload from the ledger's current state, dry-runs it, writes it and shows it.
    static func write(_ options: LedgerOptions, _ clock: ClockOptions, _ proposal: ProposalOptions, _ build: (FundState) throws -> any PayloadBody) throws {
        let state = try readFund(try options.location())
        let now = try clock.time()
        let json = Payloads.make(try build(state), for: state, id: try proposal.payloadId(), expires: try expiry(now, proposal.expires))
        let payload: Payload
        do { payload = try Payload(json) } catch { throw FundError(error.rule, "before anyone signs: \(error.reason). Nothing was written.") }
        var notes: [String] = []
        do {
            try state.dryRun(payload, at: now)
        } catch where error.rule == .tooEarly {
            // A settlement drafted before the delay ends: fine if it is still valid then.
            guard let settle = payload.body as? SettlePayload, let release = state.releases[settle.release] else { throw error }
            guard payload.header.expires >= release.payableAt else {
                throw CLIError.refused("release \(settle.release) becomes payable at \(release.payableAt), after this payload would expire (\(payload.header.expires)); give a longer --expires. Nothing was written.")
            }
            notes.append("release \(settle.release) becomes payable at \(release.payableAt): submit this settlement from then on (it expires \(payload.header.expires))")
        } catch {
            throw FundError(error.rule, "before anyone signs: \(error.reason). Nothing was written.")
        }
        if payload.kind == .release, let payable = now.adding(seconds: state.releaseDelaySeconds) {
            notes.append("if recorded now, payable from \(payable) (\(Words.duration(state.releaseDelaySeconds)) after approval); the payload expires \(payload.header.expires)")
        }
        try writePayload(json, to: proposal.out)
        printScreen(Screen(payload, state: state))
        for note in notes { print("  NOTE: \(note)") }
        let policy = try state.signers(for: payload)
        let who = policy.groups.map { "\($0.threshold) of \($0.keys.count) (\($0.roleDescription.replacingOccurrences(of: "a delegate of ", with: "delegates of ")))" }.joined(separator: " and ")
        print("wrote \(proposal.out): needs \(who)")
    }

    struct Admit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Admit a member platform.", discussion: "Example: backstop propose admit --ledger fund/ --member exchange-a --platform \"Exchange A\" --key exchange-a.pub.pem --size 250000000 --out admit.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The member's id (letters, digits, . _ -).") var member: String
        @Option(help: "The platform's name.") var platform: String
        @Option(help: "The member's public key file (PEM or DER).") var key: String
        @Option(help: "Declared size in dues-asset units, which scales its dues (0 for none).") var size: String
        @Option(help: "Where the platform is registered: a jurisdiction code such as SG.") var jurisdiction: String?
        func run() throws {
            try ProposeCommand.write(options, clock, proposal) { state in
                let size = size == "0" ? Amount.zero : try parseAmount(size, asset: state.policy.asset, state: state, option: "--size")
                return AdmitPayload(member: member, platform: platform, key: try Files.publicKey(key), size: size, jurisdiction: jurisdiction)
            }
        }
    }

    struct MemberStatus: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "member-status", abstract: "Suspend or reinstate a member.", discussion: "Example: backstop propose member-status --ledger fund/ --member broker-b --status suspended --reason \"assessment overdue\" --out suspend.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The member's id.") var member: String
        @Option(help: "active or suspended.") var status: String
        @Option(help: "Why.") var reason: String
        func run() throws {
            guard let status = BackstopFund.Member.Status(rawValue: status) else { throw CLIError.badInput("--status \(SafeText.quoted(status)): active or suspended") }
            try ProposeCommand.write(options, clock, proposal) { state in
                try requireMember(member, state)
                return MemberStatusPayload(member: member, status: status, reason: reason)
            }
        }
    }

    struct MemberKey: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "member-key", abstract: "Replace a member's key (signed by its current key and the delegates).", discussion: "Example: backstop propose member-key --ledger fund/ --member exchange-a --key new.pub.pem --out rotate-key.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The member's id.") var member: String
        @Option(help: "The new public key file.") var key: String
        func run() throws {
            try ProposeCommand.write(options, clock, proposal) { state in
                try requireMember(member, state)
                return MemberKeyPayload(member: member, key: try Files.publicKey(key), previousKey: state.members[member]!.key.fingerprint)
            }
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Release money for a claim (reserved at approval, paid at settlement after the delay).", discussion: "Example: backstop propose release --ledger fund/ --claim breach-1 --pay ETH=1000@0xVictimsPool --pay BTC=100@bc1qvictims --payee \"Exchange A claimants\" --expires 72h --out release.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The claim's id.") var claim: String
        @Option(help: "A payout as ASSET=AMOUNT@DESTINATION, amount in asset units (repeat).") var pay: [String] = []
        @Option(help: "Who receives the payouts (default: claimants of CLAIM).") var payee: String?
        @Option(help: "A restitution list's summary.json (backstop restitution build): the payouts to its destination must total it.") var restitution: String?
        func run() throws {
            guard !pay.isEmpty else { throw CLIError.badInput("give at least one --pay ASSET=AMOUNT@DESTINATION") }
            try ProposeCommand.write(options, clock, proposal) { state in
                let payouts = try pay.map { item -> Payout in
                    let (asset, amount, destination) = try parseAssetAmountAt(item, option: "--pay", form: "ASSET=AMOUNT@DESTINATION, such as ETH=1000@0xabc", state: state)
                    guard Identifiers.isDestination(destination) else {
                        throw CLIError.badInput("--pay \(SafeText.quoted(item)): the destination must be 1 to 200 visible ASCII characters, no spaces or control characters")
                    }
                    return Payout(asset: asset, amount: amount, payee: payee ?? "claimants of \(claim)", destination: destination)
                }
                var list: RestitutionSummary? = nil
                if let restitution {
                    let bytes = try Files.read(restitution, what: "restitution summary", limit: 1 << 20)
                    do { list = try RestitutionSummary(json: try JSONParser.parse(bytes)) } catch let error as FundError {
                        throw CLIError.badInput("restitution summary \(restitution): \(error.reason)")
                    } catch { throw CLIError.badInput("restitution summary \(restitution) is not JSON: \(error)") }
                }
                return ReleasePayload(claim: claim, payouts: payouts, restitution: list)
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a pending release, freeing its reservation.", discussion: "Example: backstop propose cancel --ledger fund/ --release r-1 --reason \"destination compromised\" --out cancel.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The release's id.") var release: String
        @Option(help: "Why.") var reason: String
        func run() throws { try ProposeCommand.write(options, clock, proposal) { _ in CancelPayload(release: release, reason: reason) } }
    }

    struct Settle: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that a pending release was paid (after the release delay).", discussion: "Example: backstop propose settle --ledger fund/ --release r-1 --reference 0xpayout-tx --out settle.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The release's id.") var release: String
        @Option(help: "The payout reference, such as the transaction id.") var reference: String
        func run() throws { try ProposeCommand.write(options, clock, proposal) { _ in SettlePayload(release: release, reference: reference) } }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a claim, with a reason.", discussion: "Example: backstop propose reject --ledger fund/ --claim c-7 --reason \"no evidence of loss\" --out reject.json")
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "The claim's id.") var claim: String
        @Option(help: "Why.") var reason: String
        func run() throws { try ProposeCommand.write(options, clock, proposal) { _ in RejectPayload(claim: claim, reason: reason) } }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace delegates (signed by the threshold of the current AND the new set).",
            discussion: """
                Example: backstop propose rotate --ledger fund/ --replace delegate-7=newcomer.pub.pem --out rotate.json
                --replace delegate-N=KEY.pem keeps the seat's platform; delegate-N=PLATFORM=KEY.pem renames it too. \
                Or give the whole new set with --delegate PLATFORM=KEY.pem (repeat).
                """
        )
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "Replace one seat: delegate-N=KEY.pem or delegate-N=PLATFORM=KEY.pem (repeat).") var replace: [String] = []
        @Option(help: "The whole new set instead, as PLATFORM=PUBLIC-KEY.pem (repeat).") var delegate: [String] = []
        @Option(help: "Approvals needed in the new set (default: unchanged).") var threshold: Int?
        @Option(help: "Petition threshold from now on (default: unchanged).") var petitionThreshold: Int?
        func run() throws {
            guard replace.isEmpty != delegate.isEmpty else { throw CLIError.badInput("give either --replace delegate-N=KEY.pem (repeat) or the whole set with --delegate") }
            try ProposeCommand.write(options, clock, proposal) { state in
                var delegates = state.delegates
                if !delegate.isEmpty { delegates = try parseDelegates(delegate) }
                for item in replace {
                    let parts = item.split(separator: "=", maxSplits: 2).map(String.init)
                    guard parts.count >= 2, parts[0].hasPrefix("delegate-"), let seat = Int(parts[0].dropFirst(9)), (1...delegates.count).contains(seat) else {
                        throw CLIError.badInput("--replace \(SafeText.quoted(item)): expected delegate-N=KEY.pem or delegate-N=PLATFORM=KEY.pem, N from 1 to \(delegates.count)")
                    }
                    let platform = parts.count == 3 ? parts[1] : delegates[seat - 1].platform
                    delegates[seat - 1] = Delegate(key: try Files.publicKey(parts.last!), platform: platform)
                }
                return RotatePayload(delegates: delegates, threshold: threshold ?? state.threshold, petitionThreshold: petitionThreshold ?? state.petitionThreshold)
            }
        }
    }

    struct Policy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the dues rate, floor, cap or grace, the release delay, or the witnesses; the rest stays as it is.",
            discussion: "Example: backstop propose policy --ledger fund/ --dues-cap 250000 --out policy.json\nThe dues asset and the period length are fixed at genesis."
        )
        @OptionGroup var options: LedgerOptions
        @OptionGroup var clock: ClockOptions
        @OptionGroup var proposal: ProposalOptions
        @Option(help: "New dues per period = declared size × this / 1,000,000.") var duesRatePerMillion: Int64?
        @Option(help: "New least dues per period, in asset units.") var duesFloor: String?
        @Option(help: "New most dues per period, in asset units.") var duesCap: String?
        @Option(help: "New grace after a period before unpaid dues put a member in arrears.") var grace: String?
        @Option(help: "New delay between a release's approval and its earliest settlement.") var releaseDelay: String?
        @OptionGroup var witnesses: WitnessOptions
        @Option(help: "New time within which a receipt must confirm a declared contribution.") var receiptDeadline: String?
        @Option(help: "Most one account may receive in a restitution list, ASSET=AMOUNT in asset units (repeat; ASSET=none removes it).") var accountCap: [String] = []
        @Option(help: "true: a member with overdue assessments may not file a claim; false: it may.") var claimsNeedAssessments: Bool?
        @Option(help: "A jurisdiction where membership is mandatory (repeat; replaces the list; 'none' empties it).") var mandatoryJurisdiction: [String] = []
        func run() throws {
            let newWitnesses = try witnesses.policy()
            let safeguardsChanged = receiptDeadline != nil || !accountCap.isEmpty || claimsNeedAssessments != nil || !mandatoryJurisdiction.isEmpty
            guard duesRatePerMillion != nil || duesFloor != nil || duesCap != nil || grace != nil || releaseDelay != nil || newWitnesses != nil || safeguardsChanged else {
                throw CLIError.badInput("nothing to change: give --dues-rate-per-million, --dues-floor, --dues-cap, --grace, --release-delay, --witness, --delegates-witness, --receipt-deadline, --account-cap, --claims-need-assessments or --mandatory-jurisdiction")
            }
            try ProposeCommand.write(options, clock, proposal) { state in
                let current = state.policy
                func amount(_ text: String?, _ option: String, _ old: Amount) throws -> Amount {
                    guard let text else { return old }
                    return text == "0" ? .zero : try parseAmount(text, asset: current.asset, state: state, option: option)
                }
                let changed = ContributionPolicy(
                    asset: current.asset, ratePerMillion: duesRatePerMillion ?? current.ratePerMillion,
                    floor: try amount(duesFloor, "--dues-floor", current.floor), cap: try amount(duesCap, "--dues-cap", current.cap),
                    periodSeconds: current.periodSeconds, graceSeconds: try grace.map { try parseDuration($0, option: "--grace") } ?? current.graceSeconds)
                let delay = try releaseDelay.map { try parseDuration($0, option: "--release-delay") } ?? state.releaseDelaySeconds
                var safeguards: Safeguards? = nil
                if safeguardsChanged {
                    var s = state.safeguards
                    if let receiptDeadline { s.receiptSeconds = try parseDuration(receiptDeadline, option: "--receipt-deadline") }
                    for item in accountCap {
                        let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                        guard parts.count == 2 else { throw CLIError.badInput("--account-cap \(SafeText.quoted(item)): expected ASSET=AMOUNT or ASSET=none") }
                        s.accountCaps[parts[0]] = parts[1] == "none" ? nil : try parseAmount(parts[1], asset: parts[0], state: state, option: "--account-cap")
                    }
                    if let claimsNeedAssessments { s.claimsNeedAssessments = claimsNeedAssessments }
                    if !mandatoryJurisdiction.isEmpty { s.mandatoryJurisdictions = mandatoryJurisdiction == ["none"] ? [] : mandatoryJurisdiction }
                    safeguards = s
                }
                return PolicyPayload(policy: changed, releaseDelaySeconds: delay, previous: (current, state.releaseDelaySeconds), witnesses: newWitnesses, safeguards: safeguards,
                                     previousSafeguards: safeguards == nil ? nil : state.safeguards)
            }
        }
    }
}
