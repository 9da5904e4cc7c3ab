import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// What the dashboard and the report show of the past, gathered while a ledger is
/// verified and then kept up to date by the service: the balances each time they changed,
/// and the latest entries with who signed them.
package struct FundHistory: Sendable {
    /// The balances as they stood from `time` (after entry `seq`).
    package struct Point: Sendable {
        package let seq: Int64
        package let time: Timestamp
        package let balances: [String: Balance]
    }

    /// One entry as the activity list shows it.
    package struct Activity: Sendable {
        package let seq: Int64
        package let time: Timestamp
        package let kind: String
        package let summary: String
        package let signers: [String]
    }

    /// How many points and entries are kept: the oldest are thinned (points) or dropped
    /// (entries) past these, so a ledger of millions of entries costs a few hundred KiB.
    package static let maximumPoints = 2_000, maximumActivity = 50

    package private(set) var points: [Point] = []
    package private(set) var activity: [Activity] = []

    package init() {}

    /// Records `entry`, about to be applied to `before`.
    package mutating func observe(_ entry: Entry, before: FundState) {
        if points.last?.balances != before.balances, !before.balances.isEmpty {
            points.append(Point(seq: before.entryCount - 1, time: before.lastTime, balances: before.balances))
            if points.count > Self.maximumPoints {
                // Keep the first and every second point after it: the curve's shape survives.
                points = [points[0]] + points.dropFirst().enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
            }
        }
        activity.append(Activity(seq: entry.seq, time: entry.time, kind: entry.kind, summary: before.summary(of: entry),
                                 signers: entry.signatures.map { Self.name(of: $0.publicKey, in: before) }))
        if activity.count > Self.maximumActivity { activity.removeFirst(activity.count - Self.maximumActivity) }
    }

    /// Who a key is, as far as the fund knows: a delegate, a member, an assessor, or a petitioner.
    package static func name(of key: PublicKey, in state: FundState) -> String {
        if let delegate = state.delegateName(key) { return delegate }
        if let member = state.members.values.first(where: { $0.key == key }) { return "member \(member.id)" }
        if let assessor = state.assessors.values.first(where: { $0.key == key }) { return "assessor \(assessor.id)" }
        return "petitioner \(key.fingerprint.prefix(12))"
    }

    /// Verifies the ledger `storage` whole and gathers its history.
    package static func read(storage: any LedgerStorage) throws -> (FundState, FundHistory) {
        var history = FundHistory()
        let state = try Fund.verify(storage: storage, willApply: { entry, before in history.observe(entry, before: before) }).0
        return (state, history)
    }

    /// Verifies the ledger in `folder` whole and gathers its history.
    package static func read(folder: URL) throws -> (FundState, FundHistory) {
        var history = FundHistory()
        let file = folder.appendingPathComponent(LedgerStore.ledgerFileName)
        let state = try Fund.verify(file: file, willApply: { entry, before in history.observe(entry, before: before) }).0
        return (state, history)
    }
}
