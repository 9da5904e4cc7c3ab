import BackstopCrypto
import BackstopFund
import BackstopLedger

/// What a payload says, in lines a person reads before signing it.
func describe(_ payload: JSONValue, state: FundState?) -> [String] {
    guard case .object(let fields) = payload else { return ["not a payload object"] }
    let domain = fields["domain"]?.stringValue ?? "?"
    var lines = ["purpose:      \(domain)"]
    if let fund = fields["fund"]?.stringValue {
        let known = state.map { Hex.encode($0.fundId) == fund ? " (\($0.name))" : " (NOT this ledger's fund \(Hex.encode($0.fundId)))" } ?? ""
        lines.append("fund:         \(fund)\(known)")
    }
    lines.append("id:           \(fields["id"]?.stringValue ?? "?")")
    lines.append("expires:      \(fields["expires"]?.stringValue ?? "?")")
    if let set = fields["delegateSet"]?.integerValue { lines.append("delegate set: v\(set)") }
    let common: Set<String> = ["domain", "fund", "id", "expires", "delegateSet"]
    let duesAsset = state?.policy.asset ?? fields["policy"]?["asset"]?.stringValue ?? "dues asset"
    for key in fields.keys.sorted() where !common.contains(key) {
        let value = fields[key]!
        switch key {
        case "payouts":
            var totals: [String: Amount] = [:]
            for payout in value.arrayValue ?? [] {
                let asset = payout["asset"]?.stringValue ?? "?"
                let amount = Amount(minorUnits: payout["amount"]?.stringValue ?? "") ?? .zero
                totals[asset] = (totals[asset] ?? .zero) + amount
                lines.append("pay:          \(display(amount, asset, state)) to \(payout["payee"]?.stringValue ?? "?") at \(payout["destination"]?.stringValue ?? "?")")
            }
            for (asset, total) in totals.sorted(by: { $0.key < $1.key }) { lines.append("total:        \(display(total, asset, state))") }
        case "losses":
            for (asset, amount) in (value.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                lines.append("loss:         \(display(Amount(minorUnits: amount.stringValue ?? "") ?? .zero, asset, state))")
            }
        case "amount":
            let asset = fields["asset"]?.stringValue ?? "?"
            lines.append("amount:       \(display(Amount(minorUnits: value.stringValue ?? "") ?? .zero, asset, state))")
        case "size":
            lines.append("size:         \(display(Amount(minorUnits: value.stringValue ?? "") ?? .zero, duesAsset, state))")
        case "key":
            lines.append("key:          \(fingerprint(value))")
        case "delegates":
            for (index, delegate) in (value.arrayValue ?? []).enumerated() {
                lines.append("delegate \(index + 1):   \(delegate["platform"]?.stringValue ?? "?") \(fingerprint(delegate["key"] ?? .null))")
            }
        case "evidence":
            lines.append("evidence:     \((value.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", "))")
        default:
            lines.append("\(key + ":")\(String(repeating: " ", count: max(1, 14 - key.count - 1)))\(render(value))")
        }
    }
    return lines
}

private func fingerprint(_ value: JSONValue) -> String {
    guard let hex = value.stringValue, let der = Hex.decode(hex), let key = try? PublicKey(derRepresentation: der) else { return "(unreadable key)" }
    return "\(key.curve.rawValue) key \(key.fingerprint)"
}

private func render(_ value: JSONValue) -> String {
    switch value {
    case .string(let text): text
    case .integer(let number): String(number)
    default: String(decoding: Canonical.encode(value), as: UTF8.self)
    }
}
