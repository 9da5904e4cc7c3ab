/// Standard base64 with padding (RFC 4648 section 4), for PEM bodies and signed notes.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let values: [UInt8: UInt8] = Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($0.element, UInt8($0.offset)) })

    /// The base64 encoding of `bytes`.
    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for byte in chunk { value = value << 8 | Int(byte) }
            value <<= 8 * (3 - chunk.count)
            for position in 0..<4 {
                if position <= chunk.count {
                    output.append(alphabet[(value >> (18 - 6 * position)) & 0x3f])
                } else {
                    output.append(UInt8(ascii: "="))
                }
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The bytes of canonical base64 `text` (padded, no whitespace, unused bits zero), or
    /// nil: one encoding per byte string, so a signed note has one spelling.
    public static func decode(_ text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        guard bytes.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count / 4 * 3)
        for start in stride(from: 0, to: bytes.count, by: 4) {
            let quad = bytes[start..<start + 4]
            let padding = quad.reversed().prefix { $0 == UInt8(ascii: "=") }.count
            guard padding <= 2, start + 4 == bytes.count || padding == 0 else { return nil }
            var value = 0
            for (position, byte) in quad.enumerated() {
                if position >= 4 - padding { value <<= 6; continue }
                guard let digit = values[byte] else { return nil }
                value = value << 6 | Int(digit)
            }
            let decoded = [UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
            // The bits the padding leaves unused must be zero, or the text is not canonical.
            if padding == 1 && decoded[2] != 0 || padding == 2 && (decoded[1] != 0 || decoded[2] != 0) { return nil }
            output.append(contentsOf: decoded.prefix(3 - padding))
        }
        return output
    }
}
