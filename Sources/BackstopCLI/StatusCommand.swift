import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the fund: policy, balances, members and their dues, claims, pending releases, delegates.",
        discussion: """
            Example: backstop status --ledger fund/ --json
            Everything is derived by verifying and replaying the ledger. Dues are as of now. JSON \
            amounts are decimal strings in asset units, such as "4836.26".
            """
    )

    @OptionGroup var options: LedgerOptions
    @OptionGroup var clock: ClockOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let state = try readFund(try options.location())
        let now = try clock.time()
        if json {
            printJSON(statusReport(state, at: now))
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

/// What a member owes for the current period: (paid, owed, deadline).
func currentDues(_ member: Member, _ state: FundState, at time: Timestamp) -> (paid: Amount, owed: Amount, deadline: Timestamp?) {
    let period = state.period(of: time)
    return (state.duesPaid[member.id]?[period] ?? .zero, state.policy.dues(size: member.size), state.deadline(ofPeriod: period))
}

/// Per asset (null when nothing was ever attested), the last reserve attestation against the books: what was attested, paid
/// since, reserved, what the books say is held (confirmed contributions less paid), and what
/// a new release may still use by the attestation.
func coverageReport(_ state: FundState) -> JSONValue {
    func units(_ amount: Amount, _ asset: String) -> JSONValue { .string(amount.decimalString(decimals: state.assets[asset] ?? 0)) }
    return [
        "lastAttested": state.reserves.map { .string($0.asOf.description) } ?? .null,
        "entry": state.reserves.map { .integer($0.seq) } ?? .null,
        "assets": state.reserves == nil ? .null : .object(state.balances.reduce(into: [:]) { result, item in
            let (asset, balance) = item
            let attested = state.reserves?.holdings[asset] ?? .zero
            let paidSince = state.paidSinceAttestation[asset] ?? .zero
            let books = balance.contributed - balance.paid
            let heldNow = paidSince <= attested ? attested - paidSince : .zero
            result[asset] = [
                "attested": units(attested, asset), "paidSince": units(paidSince, asset), "reserved": units(balance.reserved, asset),
                "books": units(books, asset), "attestedLessPaid": units(heldNow, asset),
                "shortfall": units(heldNow < books ? books - heldNow : .zero, asset),
                "releasable": state.attestedAvailable(asset).map { units(min($0, balance.available), asset) } ?? units(balance.available, asset),
            ]
        }),
    ]
}

/// A member's money per asset: declared, confirmed, and unconfirmed (pending or lapsed).
func memberMoneyReport(_ member: Member, _ state: FundState, at time: Timestamp) -> JSONValue {
    let (pending, lapsed) = state.unconfirmed(member: member.id, at: time)
    return .object((state.memberMoney[member.id] ?? [:]).reduce(into: [:]) { result, item in
        let (asset, money) = item
        let decimals = state.assets[asset] ?? 0
        func sum(_ list: [Declaration]) -> String { list.filter { $0.asset == asset }.reduce(Amount.zero) { $0 + $1.amount }.decimalString(decimals: decimals) }
        result[asset] = [
            "declared": .string(money.declared.decimalString(decimals: decimals)), "confirmed": .string(money.confirmed.decimalString(decimals: decimals)),
            "unconfirmed": .string(money.unconfirmed.decimalString(decimals: decimals)), "pending": .string(sum(pending)), "lapsed": .string(sum(lapsed)),
        ]
    })
}

/// Where a member stands in the assessment schedule.
func assessmentReport(_ member: Member, _ state: FundState, at time: Timestamp) -> JSONValue {
    let schedule = state.assessmentSchedule(member: member.id)
    let history = state.assessments[member.id] ?? []
    return [
        "cycle": .string(schedule.cycle.rawValue), "pairComplete": .bool(schedule.pairComplete),
        "due": schedule.due.map { .string($0.description) } ?? .null, "needs": .string(schedule.needs),
        "overdue": .bool(schedule.due.map { $0 < time } ?? false),
        "last": history.last.map { ["assessor": .string($0.assessor), "date": .string($0.date.description), "kind": .string($0.kind.rawValue)] } ?? .null,
    ]
}

/// The `status --json` object.
package func statusReport(_ state: FundState, at time: Timestamp) -> JSONValue {
    let dues = state.policy.asset
    let decimals = state.assets[dues] ?? 0
    let period = state.period(of: time)
    func text(_ time: Timestamp?) -> JSONValue { time.map { .string($0.description) } ?? .null }
    return [
        "fundId": .string(Hex.encode(state.fundId)), "name": .string(state.name), "entries": .integer(state.entryCount),
        "head": .string(Hex.encode(state.head)), "lastEntryTime": .string(state.lastTime.description), "asOf": .string(time.description),
        "policy": [
            "duesAsset": .string(dues), "ratePerMillion": .integer(state.policy.ratePerMillion),
            "floor": .string(state.policy.floor.decimalString(decimals: decimals)), "cap": .string(state.policy.cap.decimalString(decimals: decimals)),
            "periodSeconds": .integer(state.policy.periodSeconds), "graceSeconds": .integer(state.policy.graceSeconds),
            "releaseDelaySeconds": .integer(state.releaseDelaySeconds), "words": .string(state.policy.words(decimals: decimals)),
        ],
        "witnesses": state.witnesses.map { $0.json } ?? .null,
        "rulesVersion": .integer(state.version),
        "safeguards": state.safeguards.json,
        "reserves": coverageReport(state),
        "assessors": .array(state.assessors.values.sorted { $0.id < $1.id }.map {
            ["id": .string($0.id), "firm": .string($0.firm), "active": .bool($0.active), "key": .string($0.key.fingerprint)]
        }),
        "missingMembers": .array(state.missingMembers.map { ["jurisdiction": .string($0.jurisdiction), "platforms": .array($0.platforms.map(JSONValue.string))] }),
        "checkpoint": ["size": .integer(state.checkpointSize), "witnessedTime": text(state.witnessedTime)],
        "currentPeriod": ["number": .integer(period), "start": text(state.start(ofPeriod: period)), "end": text(state.start(ofPeriod: period + 1)),
                          "deadline": text(state.deadline(ofPeriod: period))],
        "balances": .object(state.balances.reduce(into: [:]) { result, item in
            let decimals = state.assets[item.key] ?? 0
            result[item.key] = [
                "contributed": .string(item.value.contributed.decimalString(decimals: decimals)), "reserved": .string(item.value.reserved.decimalString(decimals: decimals)),
                "paid": .string(item.value.paid.decimalString(decimals: decimals)), "available": .string(item.value.available.decimalString(decimals: decimals)),
            ]
        }),
        "members": .array(state.members.values.sorted { $0.id < $1.id }.map { member in
            let current = currentDues(member, state, at: time)
            return [
                "id": .string(member.id), "platform": .string(member.platform), "status": .string(memberStatus(member, state, at: time)),
                "duesPerPeriod": .string(current.owed.decimalString(decimals: decimals)),
                "duesAsset": .string(dues), "arrearsSincePeriod": state.periodInArrears(member: member.id, at: time).map { .integer($0) } ?? .null,
                "currentPeriodPaid": .string(current.paid.decimalString(decimals: decimals)),
                "currentPeriodDeadline": text(current.deadline),
                "key": .string(member.key.fingerprint),
                "jurisdiction": member.jurisdiction.map(JSONValue.string) ?? .null,
                "money": memberMoneyReport(member, state, at: time),
                "assessments": assessmentReport(member, state, at: time),
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
             "approvedAt": .string(release.approvedAt.description), "payableAt": .string(release.payableAt.description),
             "witnessedAt": text(release.witnessedAt),
             "restitution": release.restitution?.json ?? .null,
             "payouts": .array(release.payouts.map {
                 ["asset": .string($0.asset), "amount": .string($0.amount.decimalString(decimals: state.assets[$0.asset] ?? 0)),
                  "payee": .string($0.payee), "destination": .string($0.destination)]
             })]
        }),
        "delegates": [
            "set": .integer(state.delegateSet), "threshold": .integer(Int64(state.threshold)), "petitionThreshold": .integer(Int64(state.petitionThreshold)),
            "members": .array(state.delegates.enumerated().map { ["name": .string("delegate-\($0.offset + 1)"), "platform": .string($0.element.platform), "key": .string($0.element.key.fingerprint)] }),
        ],
    ]
}

/// The `status` text for people. Every string from the ledger is shown escaped.
func statusLines(_ state: FundState, at time: Timestamp) -> [String] {
    let period = state.period(of: time)
    let dues = state.policy.asset
    var lines = [SafeText.show(state.name), "fund id \(Hex.encode(state.fundId))", "\(state.entryCount) entries, head \(Hex.encode(state.head)), last entry \(state.lastTime)", ""]
    lines.append("Policy: dues \(state.policy.words(decimals: state.assets[dues])); release delay \(Words.duration(state.releaseDelaySeconds))")
    if let start = state.start(ofPeriod: period), let end = state.start(ofPeriod: period + 1), let deadline = state.deadline(ofPeriod: period) {
        lines.append("Dues period \(period): \(Words.time(start)) to \(Words.time(end)); its dues are late after \(Words.time(deadline))")
    }
    lines.append("Witnesses: \(state.witnesses?.words(state) ?? "none named (a fund from before witnesses: time rules use entry times)")")
    if state.checkpointSize > 0 {
        lines.append("Last recorded checkpoint: \(state.checkpointSize) entries; the fund's witnessed time is \(state.witnessedTime.map(Words.time) ?? "unset")")
    } else if state.witnesses != nil {
        lines.append("No checkpoint recorded yet: no release can be settled before one includes it")
    }
    lines.append("")
    lines.append("Balances (available / reserved / paid of contributed):")
    for (asset, balance) in state.balances.sorted(by: { $0.key < $1.key }) {
        lines.append("  \(asset.padding(toLength: 6, withPad: " ", startingAt: 0)) \(state.show(balance.available, asset)) available, \(state.show(balance.reserved, asset)) reserved, \(state.show(balance.paid, asset)) paid of \(state.show(balance.contributed, asset))")
    }
    if let reserves = state.reserves {
        lines.append("Reserves attested \(Words.time(reserves.asOf)) (entry \(reserves.seq)), against the books:")
        for (asset, balance) in state.balances.sorted(by: { $0.key < $1.key }) {
            let attested = reserves.holdings[asset] ?? .zero, paidSince = state.paidSinceAttestation[asset] ?? .zero
            let held = paidSince <= attested ? attested - paidSince : .zero
            let books = balance.contributed - balance.paid
            let gap = held < books ? "; SHORT by \(state.show(books - held, asset))" : ""
            lines.append("  \(asset.padding(toLength: 6, withPad: " ", startingAt: 0)) attested \(state.show(attested, asset)), paid since \(state.show(paidSince, asset)); the books hold \(state.show(books, asset))\(gap); releasable \(state.show(min(state.attestedAvailable(asset) ?? balance.available, balance.available), asset))")
        }
    } else {
        lines.append(state.version >= 2 ? "Reserves: never attested, so no release can be approved" : "Reserves: never attested (a version-1 fund: releases are bounded by the books alone)")
    }
    lines.append("")
    lines.append("Members (dues as of \(time)):")
    for member in state.members.values.sorted(by: { $0.id < $1.id }) {
        let status = memberStatus(member, state, at: time)
        let arrears = state.periodInArrears(member: member.id, at: time).map { " since period \($0)" } ?? ""
        let current = currentDues(member, state, at: time)
        let deadline = current.deadline.map { ", due by \(Words.time($0))" } ?? ""
        lines.append("  \(member.id) (\(SafeText.show(member.platform))): \(status)\(arrears); period \(period): paid \(state.show(current.paid, dues)) of \(state.show(current.owed, dues))\(deadline)")
        if state.version >= 2 {
            let (pending, lapsed) = state.unconfirmed(member: member.id, at: time)
            for (asset, money) in (state.memberMoney[member.id] ?? [:]).sorted(by: { $0.key < $1.key }) {
                let waiting = pending.filter { $0.asset == asset }.reduce(Amount.zero) { $0 + $1.amount }
                let gone = lapsed.filter { $0.asset == asset }.reduce(Amount.zero) { $0 + $1.amount }
                lines.append("    \(asset): declared \(state.show(money.declared, asset)), confirmed \(state.show(money.confirmed, asset)), unconfirmed \(state.show(money.unconfirmed, asset)) (\(state.show(waiting, asset)) awaiting a receipt, \(state.show(gone, asset)) lapsed)")
            }
        }
        let schedule = state.assessmentSchedule(member: member.id)
        let overdue = schedule.due.map { $0 < time } ?? false
        let last = state.assessments[member.id]?.last.map { "; last \($0.kind.rawValue) by \($0.assessor) on \(Words.time($0.date))" } ?? "; none recorded"
        lines.append("    assessments: next \(schedule.needs), due \(schedule.due.map(Words.time) ?? "-")\(overdue ? " OVERDUE" : "")\(last)")
        if let jurisdiction = member.jurisdiction { lines.append("    jurisdiction: \(jurisdiction)") }
    }
    let overdue = state.members.values.filter { m in state.assessmentSchedule(member: m.id).due.map { $0 < time } ?? false }.map(\.id).sorted()
    if !overdue.isEmpty { lines.append("  Assessments overdue: \(overdue.joined(separator: ", "))\(state.safeguards.claimsNeedAssessments ? " (they cannot file claims)" : "")") }
    for (code, missing) in state.missingMembers where !missing.isEmpty {
        lines.append("  Not members although registered in \(code), where membership is mandatory: \(missing.map(SafeText.show).joined(separator: ", "))")
    }
    lines.append("")
    lines.append("Claims:")
    for claim in state.claims.values.sorted(by: { $0.seq < $1.seq }) {
        let by = claim.member.map { "member \($0)" } ?? "petition of \(claim.petitioners) users"
        lines.append("  \(claim.id) [\(claim.status.rawValue)] \(SafeText.show(claim.platform)), \(claim.accounts) accounts, filed by \(by)")
        for asset in claim.losses.keys.sorted() {
            lines.append("    \(asset): claimed \(state.show(claim.losses[asset]!, asset)), released \(state.show(claim.committed[asset] ?? .zero, asset)) (paid \(state.show(claim.paid[asset] ?? .zero, asset))), remaining \(state.show(claim.remaining[asset]!, asset))")
        }
    }
    let pending = state.releases.values.filter { $0.status == .pending }.sorted { $0.id < $1.id }
    lines.append("")
    lines.append("Pending releases:\(pending.isEmpty ? " none" : "")")
    for release in pending {
        let totals = release.totals.sorted { $0.key < $1.key }.map { state.show($0.value, $0.key) }.joined(separator: ", ")
        if state.witnesses == nil {
            lines.append("  \(release.id) for claim \(release.claim): \(totals), payable from \(release.payableAt)")
        } else if let seen = release.witnessedAt, let due = seen.adding(seconds: release.payableAt.secondsSinceEpoch - release.approvedAt.secondsSinceEpoch) {
            lines.append("  \(release.id) for claim \(release.claim): \(totals), witnessed \(Words.time(seen)); payable once a checkpoint cosigned at or after \(Words.time(due)) is recorded")
        } else {
            lines.append("  \(release.id) for claim \(release.claim): \(totals); not yet in a recorded checkpoint, so its delay has not started")
        }
        for payout in release.payouts {
            lines.append("    pays \(state.show(payout.amount, payout.asset)) to \(SafeText.show(payout.payee)) at \(payout.destination)")
        }
        if let list = release.restitution {
            lines.append("    restitution list of \(list.accounts) accounts at \(list.destination), root \(list.root)")
        }
    }
    lines.append("")
    lines.append("Delegates (set v\(state.delegateSet), \(state.threshold) of \(state.delegates.count) to release; petitions need \(state.petitionThreshold)):")
    for (index, delegate) in state.delegates.enumerated() {
        lines.append("  delegate-\(index + 1) \(SafeText.show(delegate.platform)) \(delegate.key.fingerprint)")
    }
    return lines
}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "List the ledger's entries, each verified, and what each one did.",
        discussion: """
            Example: backstop log --ledger fund/ --kind release
            Each entry is listed only after its chain link, canonical form, signatures and rules \
            were checked; at the first entry that fails, the listing stops with exit 1. \
            --no-verify skips the signature checks (the listing says so on its first line).
            """
    )

    @OptionGroup var options: LedgerOptions

    @Option(help: "First sequence number to show.")
    var from: Int64 = 0

    @Option(help: "Only entries of this kind.")
    var kind: String?

    @Flag(help: "Do not check signatures (faster; says so).")
    var noVerify = false

    @Flag(help: "One JSON object per line: seq, time, kind, hash, summary, signers, verified, body.")
    var json = false

    func run() throws {
        let file = try options.url().appendingPathComponent(LedgerStore.ledgerFileName)
        guard FileManager.default.fileExists(atPath: file.path) else { throw CLIError.badInput("no ledger in \(SafeText.escape(options.ledger))") }
        if let kind, EntryKind(rawValue: kind) == nil {
            let kinds = EntryKind.allCases.map(\.rawValue)
            throw CLIError.badInput("--kind \(SafeText.quoted(kind))\(Identifiers.didYouMean(kind, among: kinds)): one of \(kinds.joined(separator: ", "))")
        }
        if noVerify && !json { print("NOT VERIFIED: signatures were not checked (--no-verify); chain and rules were") }
        func show(_ entry: Entry, _ hash: [UInt8], _ summary: String) {
            guard entry.seq >= from, kind == nil || entry.kind == kind else { return }
            if json {
                printJSON(["seq": .integer(entry.seq), "time": .string(entry.time.description), "kind": .string(entry.kind),
                           "hash": .string(Hex.encode(hash)), "summary": .string(summary), "verified": .bool(!noVerify),
                           "signers": .array(entry.signatures.map { .string($0.publicKey.fingerprint) }), "body": entry.body])
            } else {
                print("\(entry.seq)  \(entry.time)  \(entry.kind.padding(toLength: 13, withPad: " ", startingAt: 0)) \(summary)")
            }
        }
        var state: FundState? = nil
        _ = try replaying(try options.url()) { try LedgerScan.scan(file: file, verifySignatures: !noVerify) { entry, hash in
            if let before = state {
                let summary = before.summary(of: entry)
                try state!.apply(entry, hash: hash)
                show(entry, hash, summary)
            } else {
                state = try FundState(genesis: entry, hash: hash)
                show(entry, hash, "fund \(SafeText.show(state!.name)) created: \(state!.assets.keys.sorted().joined(separator: ", ")); \(state!.threshold) of \(state!.delegates.count) delegates")
            }
        } }
    }
}
