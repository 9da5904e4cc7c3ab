import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the fund: balances, members and dues, claims, pending releases, delegates.",
        discussion: """
            Example: backstop status --ledger fund/ --json
            Everything is derived by verifying and replaying the ledger. Dues status is as of now \
            (or --now). JSON amounts are decimal strings in asset units, such as "4836.26".
            """
    )

    @OptionGroup var options: LedgerOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let state = try readFund(options)
        let now = try options.time()
        let report = statusReport(state, at: now)
        if json {
            printJSON(report)
        } else {
            for line in statusLines(state, at: now) { print(line) }
        }
    }
}

func amounts(_ map: [String: Amount], _ state: FundState) -> JSONValue {
    .object(map.reduce(into: [:]) { $0[$1.key] = .string($1.value.decimalString(decimals: state.assets[$1.key] ?? 0)) })
}

func memberStatus(_ member: Member, _ state: FundState, at time: Timestamp) -> String {
    if member.status == .suspended { return "suspended" }
    return state.periodInArrears(member: member.id, at: time) == nil ? "active" : "arrears"
}

/// The `status --json` object.
func statusReport(_ state: FundState, at time: Timestamp) -> JSONValue {
    let dues = state.policy.asset
    return [
        "fundId": .string(Hex.encode(state.fundId)), "name": .string(state.name), "entries": .integer(state.entryCount),
        "head": .string(Hex.encode(state.head)), "lastEntryTime": .string(state.lastTime.description), "asOf": .string(time.description),
        "balances": .object(state.balances.reduce(into: [:]) { result, item in
            let decimals = state.assets[item.key] ?? 0
            result[item.key] = [
                "contributed": .string(item.value.contributed.decimalString(decimals: decimals)), "reserved": .string(item.value.reserved.decimalString(decimals: decimals)),
                "paid": .string(item.value.paid.decimalString(decimals: decimals)), "available": .string(item.value.available.decimalString(decimals: decimals)),
            ]
        }),
        "members": .array(state.members.values.sorted { $0.id < $1.id }.map { member in
            [
                "id": .string(member.id), "platform": .string(member.platform), "status": .string(memberStatus(member, state, at: time)),
                "duesPerPeriod": .string(state.policy.dues(size: member.size).decimalString(decimals: state.assets[dues] ?? 0)),
                "duesAsset": .string(dues), "arrearsSincePeriod": state.periodInArrears(member: member.id, at: time).map { .integer($0) } ?? .null,
                "key": .string(member.key.fingerprint),
            ]
        }),
        "claims": .array(state.claims.values.sorted { $0.seq < $1.seq }.map { claim in
            [
                "id": .string(claim.id), "status": .string(claim.status.rawValue), "filedBy": .string(claim.member.map { "member \($0)" } ?? "petition of \(claim.petitioners)"),
                "platform": .string(claim.platform), "accounts": .integer(claim.accounts),
                "claimed": amounts(claim.losses, state), "released": amounts(claim.committed, state), "paid": amounts(claim.paid, state),
                "remaining": amounts(claim.remaining, state),
            ]
        }),
        "pendingReleases": .array(state.releases.values.filter { $0.status == .pending }.sorted { $0.id < $1.id }.map { release in
            ["id": .string(release.id), "claim": .string(release.claim), "amounts": amounts(release.totals, state),
             "approvedAt": .string(release.approvedAt.description), "payableAt": .string(release.payableAt.description)]
        }),
        "delegates": [
            "set": .integer(state.delegateSet), "threshold": .integer(Int64(state.threshold)), "petitionThreshold": .integer(Int64(state.petitionThreshold)),
            "members": .array(state.delegates.enumerated().map { ["name": .string("delegate-\($0.offset + 1)"), "platform": .string($0.element.platform), "key": .string($0.element.key.fingerprint)] }),
        ],
    ]
}

/// The `status` text for people.
func statusLines(_ state: FundState, at time: Timestamp) -> [String] {
    var lines = ["\(state.name)", "fund id \(Hex.encode(state.fundId))", "\(state.entryCount) entries, head \(Hex.encode(state.head)), last entry \(state.lastTime)", "", "Balances (available / reserved / paid of contributed):"]
    for (asset, balance) in state.balances.sorted(by: { $0.key < $1.key }) {
        lines.append("  \(asset.padding(toLength: 6, withPad: " ", startingAt: 0)) \(display(balance.available, asset, state)) available, \(display(balance.reserved, asset, state)) reserved, \(display(balance.paid, asset, state)) paid of \(display(balance.contributed, asset, state))")
    }
    lines.append("")
    lines.append("Members (dues as of \(time)):")
    for member in state.members.values.sorted(by: { $0.id < $1.id }) {
        let status = memberStatus(member, state, at: time)
        let arrears = state.periodInArrears(member: member.id, at: time).map { " since period \($0)" } ?? ""
        lines.append("  \(member.id) (\(member.platform)): \(status)\(arrears), dues \(display(state.policy.dues(size: member.size), state.policy.asset, state)) per period")
    }
    lines.append("")
    lines.append("Claims:")
    for claim in state.claims.values.sorted(by: { $0.seq < $1.seq }) {
        let by = claim.member.map { "member \($0)" } ?? "petition of \(claim.petitioners) users"
        lines.append("  \(claim.id) [\(claim.status.rawValue)] \(claim.platform), \(claim.accounts) accounts, filed by \(by)")
        for asset in claim.losses.keys.sorted() {
            lines.append("    \(asset): claimed \(display(claim.losses[asset]!, asset, state)), released \(display(claim.committed[asset] ?? .zero, asset, state)) (paid \(display(claim.paid[asset] ?? .zero, asset, state))), remaining \(display(claim.remaining[asset]!, asset, state))")
        }
    }
    let pending = state.releases.values.filter { $0.status == .pending }.sorted { $0.id < $1.id }
    lines.append("")
    lines.append("Pending releases:\(pending.isEmpty ? " none" : "")")
    for release in pending {
        let totals = release.totals.sorted { $0.key < $1.key }.map { display($0.value, $0.key, state) }.joined(separator: ", ")
        lines.append("  \(release.id) for claim \(release.claim): \(totals), payable from \(release.payableAt)")
    }
    lines.append("")
    lines.append("Delegates (set v\(state.delegateSet), \(state.threshold) of \(state.delegates.count) to release; petitions need \(state.petitionThreshold)):")
    for (index, delegate) in state.delegates.enumerated() {
        lines.append("  delegate-\(index + 1) \(delegate.platform) \(delegate.key.fingerprint)")
    }
    return lines
}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "List the ledger's entries.",
        discussion: "Example: backstop log --ledger fund/ --kind release --json"
    )

    @OptionGroup var options: LedgerOptions

    @Option(help: "First sequence number to show.")
    var from: Int64 = 0

    @Option(help: "Only entries of this kind.")
    var kind: String?

    @Flag(help: "One JSON object per line: seq, time, kind, hash, signers, body.")
    var json = false

    func run() throws {
        let file = options.url.appendingPathComponent(LedgerStore.ledgerFileName)
        guard FileManager.default.fileExists(atPath: file.path) else { throw CLIError.badInput("no ledger in \(options.ledger)") }
        if let kind, EntryKind(rawValue: kind) == nil {
            throw CLIError.badInput("--kind \(kind): one of \(EntryKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        _ = try LedgerScan.scan(file: file, verifySignatures: false) { entry, hash in
            guard entry.seq >= from, kind == nil || entry.kind == kind else { return }
            let signers = entry.signatures.map { $0.publicKey.fingerprint }
            if json {
                printJSON(["seq": .integer(entry.seq), "time": .string(entry.time.description), "kind": .string(entry.kind),
                           "hash": .string(Hex.encode(hash)), "signers": .array(signers.map { .string($0) }), "body": entry.body])
            } else {
                print("\(entry.seq)  \(entry.time)  \(entry.kind.padding(toLength: 13, withPad: " ", startingAt: 0)) id \(entry.body["id"]?.stringValue ?? "?")  \(signers.count) signature(s)  \(Hex.encode(hash).prefix(16))")
            }
        }
    }
}
