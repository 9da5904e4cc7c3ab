import BackstopCLI
import BackstopLedger
import Hummingbird

/// A request the service answers with an error: an HTTP status and the command line's JSON
/// error object, `{"ok": false, "error": {"code", "rule", "message"}}`.
struct ServiceError: Error {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    let rule: String?

    init(status: HTTPResponse.Status, code: String, message: String, rule: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.rule = rule
    }

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, rule: String? = nil) {
        self.init(status: status, code: code, message: message, rule: rule)
    }

    /// Any error as the service reports it, with the same codes as the command line's.
    init(_ error: Error) {
        if let error = error as? ServiceError { self = error; return }
        if let error = error as? HTTPError {
            let code = switch error.status {
            case .contentTooLarge: "tooLarge"
            case .notFound: "notFound"
            case .methodNotAllowed: "methodNotAllowed"
            default: "badInput"
            }
            let message = error.status == .notFound ? "no such page or API route; the routes are in Docs/openapi.json" : error.body ?? "\(error.status)"
            self.init(status: error.status, code: code, message: message)
            return
        }
        guard let failure = Failure(error) else {
            self.init(status: .badRequest, code: "badInput", message: "invalid request")
            return
        }
        let status: HTTPResponse.Status = switch failure.exitCode {
        case 1: .conflict
        case 2: .badRequest
        case 3: .serviceUnavailable
        default: .internalServerError
        }
        self.init(status: status, code: failure.code, message: failure.message, rule: failure.rule)
    }

    var json: JSONValue {
        ["ok": false, "error": ["code": .string(code), "rule": rule.map { .string($0) } ?? .null, "message": .string(message)]]
    }
}
