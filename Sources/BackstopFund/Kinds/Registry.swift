import BackstopLedger

/// The platforms registered in a jurisdiction, as the delegates found them in its public
/// register: `status` lists those that are not members where membership is mandatory.
/// Signed by the delegate threshold; a later registry for the same jurisdiction replaces it.
public struct RegistryPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.registry
    /// The jurisdiction's code.
    public let jurisdiction: String
    /// When the list was current.
    public let asOf: Timestamp
    /// The registered platforms' names, as members' `platform` would name them.
    public let platforms: [String]

    /// A registry.
    public init(jurisdiction: String, asOf: Timestamp, platforms: [String]) {
        self.jurisdiction = jurisdiction
        self.asOf = asOf
        self.platforms = platforms
    }

    init(reading r: inout FieldReader) throws(FundError) {
        jurisdiction = try r.identifier("jurisdiction")
        asOf = try r.time("asOf")
        var platforms: [String] = []
        for (index, item) in try r.array("platforms", count: 0...10_000).enumerated() {
            guard let name = item.stringValue, !name.isEmpty, name.utf8.count <= 200 else { throw r.invalid("platforms", "an array of platform names, 1 to 200 bytes") }
            guard !platforms.contains(where: { Identifiers.same($0, name) }) else {
                throw FundError(.invalidParameter, "registry: platform \(index + 1) \(SafeText.quoted(name)) is listed twice")
            }
            platforms.append(name)
        }
        self.platforms = platforms
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        ["jurisdiction": .string(jurisdiction), "asOf": .string(asOf.description), "platforms": .array(platforms.map(JSONValue.string))]
    }

    func describe(_ screen: inout Screen) {
        screen.line("jurisdiction", jurisdiction)
        screen.line("as of", Words.time(asOf))
        if platforms.isEmpty { screen.line("platforms", "none registered") }
        for platform in platforms { screen.text("platform", platform) }
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        "registry of \(jurisdiction) as of \(asOf): \(platforms.count) registered platform(s)"
    }

    func idScope(_ header: PayloadHeader) -> String { "delegates registry" }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("a jurisdiction registry") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        guard asOf <= entry.time else { throw FundError(.invalidParameter, "registry: as of \(asOf), after the entry time \(entry.time)") }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.registries[jurisdiction] = JurisdictionRegistry(platforms: platforms, asOf: asOf, seq: entry.seq)
    }
}

extension FundState {
    /// Per mandatory jurisdiction with a registry, the registered platforms that are not
    /// active members of that jurisdiction.
    public var missingMembers: [(jurisdiction: String, platforms: [String])] {
        safeguards.mandatoryJurisdictions.compactMap { code in
            guard let registry = registries[code] else { return nil }
            let members = self.members.values.filter { $0.status == .active && $0.jurisdiction.map { Identifiers.same($0, code) } == true }
            let missing = registry.platforms.filter { name in !members.contains { Identifiers.same($0.platform, name) } }
            return (code, missing)
        }
    }
}
