/// The one PEM block of a key file: its label and the text as given.
struct PEMBlock {
    let label: String

    /// Finds the single `-----BEGIN label-----` block in `text`.
    init(_ text: String, what: String) throws {
        let labels = text.split(separator: "\n").compactMap { line -> String? in
            let line = line.trimmingSuffix(while: { $0 == "\r" || $0 == " " })
            guard line.hasPrefix("-----BEGIN "), line.hasSuffix("-----") else { return nil }
            return String(line.dropFirst("-----BEGIN ".count).dropLast("-----".count))
        }
        guard let label = labels.first else { throw CryptoError.malformed(what, "no PEM block (-----BEGIN ...-----) found") }
        guard labels.count == 1 else { throw CryptoError.malformed(what, "\(labels.count) PEM blocks found; expected exactly one") }
        self.label = label
    }
}

extension Substring {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> Substring {
        var result = self
        while let last = result.last, predicate(last) { result = result.dropLast() }
        return result
    }
}
