import ArgumentParser
import BackstopCLI
import BackstopFund
import BackstopLedger
import Foundation
import Hummingbird
import Logging
import NIOCore

/// `backstop serve`: the signing queue, the public dashboard and the petition pages over
/// HTTP, with the ledger open for writing for as long as it runs.
public enum BackstopServe {
    /// Runs `serve` with `arguments` (those after the verb); exits the process when done.
    public static func main(arguments: [String], stores: [any LedgerStoreOpener.Type]) async -> Never {
        BackstopCommandLine.register(stores: stores)
        do {
            let options = try ServeOptions.parse(arguments)
            try await run(options)
            exit(0)
        } catch let error as ServiceError {
            FileHandle.standardError.write(Data("backstop: \(SafeText.sanitize(error.message))\n".utf8))
            exit(error.status == .badRequest ? 2 : error.status == .serviceUnavailable ? 3 : 4)
        } catch {
            guard let failure = Failure(error) else { ServeOptions.exit(withError: error) }
            FileHandle.standardError.write(Data("backstop: \(SafeText.sanitize(failure.message))\n".utf8))
            exit(failure.exitCode)
        }
    }

    static func run(_ options: ServeOptions) async throws {
        let location = try LedgerLocation(options.ledger)
        let (host, port) = try options.address()
        let clock = try options.clock()
        let queue: URL
        if let given = options.queue {
            queue = URL(fileURLWithPath: given)
        } else if case .folder(let folder) = location {
            queue = URL(fileURLWithPath: folder.standardizedFileURL.path.trimmingSuffix("/") + "-queue")
        } else {
            throw ServiceError(.badRequest, "badInput", "give --queue FOLDER, where the signing queue is kept, for a database ledger")
        }
        guard (0...1_000_000).contains(options.rateLimit) else { throw ServiceError(.badRequest, "badInput", "--rate-limit \(options.rateLimit): 0 (off) to 1000000 requests a second") }
        guard (1_024...(64 << 20)).contains(options.maxBody) else { throw ServiceError(.badRequest, "badInput", "--max-body \(options.maxBody): 1024 to 67108864 bytes") }
        ServiceContext.bodyLimit = options.maxBody

        LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
        var logger = Logger(label: "backstop.serve")
        logger.logLevel = options.logLevel
        let display = location.display
        let publicURL = options.publicURL ?? "http://\(host):\(port)"
        let service = try FundService(location: location, queue: queue, autoSubmit: options.submit == .auto, clock: clock,
                                      copyCommand: "backstop mirror --from \(publicURL) --to fund-copy")
        let limiter = options.rateLimit > 0 ? RateLimiter(rate: options.rateLimit, burst: options.rateLimit * 4) : nil
        let router = Routes.router(service, limiter: limiter, logger: logger)
        let app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(options.idleTimeout)))),
            configuration: .init(address: .hostname(host, port: port), serverName: "backstop"),
            onServerRunning: { [given = options.publicURL] channel in
                let bound = channel.localAddress?.port ?? port
                if given == nil { await service.setPublicURL("http://\(host):\(bound)") }
                FileHandle.standardOutput.write(Data("listening on http://\(host):\(bound) (ledger \(display), queue \(queue.path))\n".utf8))
            },
            logger: logger
        )
        // Proposals that were only too early are appended once the rules accept them.
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(30))
                await service.submitReady()
            }
        }
        try await app.runService()  // SIGTERM and SIGINT shut it down gracefully.
        ticker.cancel()
        await service.close()
        logger.info("stopped", metadata: ["reason": "signal"])
    }
}

/// The options of `backstop serve`.
struct ServeOptions: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backstop serve", abstract: "Serve the fund over HTTP.")

    enum Submit: String, ExpressibleByArgument { case auto, explicit }

    @Option(help: "The ledger: a folder, or postgres://USER@HOST:PORT/DB.")
    var ledger: String

    @Option(help: "HOST:PORT to listen on (port 0: any free port, printed at start).")
    var listen: String = "127.0.0.1:8080"

    @Option(help: "Where the signing queue is kept (default: LEDGER-queue beside a ledger folder).")
    var queue: String?

    @Option(help: "auto: append an entry as soon as its signatures suffice; explicit: wait for POST .../submit.")
    var submit: Submit = .auto

    @Option(help: "Requests a second per client address (bursts of 4x); 0 turns the limit off.")
    var rateLimit: Int = 20

    @Option(help: "The largest request body, in bytes.")
    var maxBody: Int = 1 << 20

    @Option(help: "Seconds before an idle connection is closed.")
    var idleTimeout: Int = 30

    @Option(help: "The address readers use, for the dashboard's 'verify it yourself' commands.")
    var publicURL: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(help: ArgumentHelp("Start the service's clock at this time; it then runs in real time. For tests.", visibility: .private))
    var now: String?

    func address() throws -> (String, Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65_535).contains(port) else {
            throw ServiceError(.badRequest, "badInput", "--listen \(SafeText.quoted(listen)): expected HOST:PORT, such as 127.0.0.1:8080")
        }
        let host = String(listen[..<colon])
        guard !host.isEmpty else { throw ServiceError(.badRequest, "badInput", "--listen \(SafeText.quoted(listen)): the host is missing") }
        return (host, port)
    }

    func clock() throws -> @Sendable () -> Timestamp {
        guard let now else { return Fund.systemClock }
        guard let start = Timestamp(now) else { throw ServiceError(.badRequest, "badInput", "--now \(SafeText.quoted(now)): expected YYYY-MM-DDTHH:MM:SSZ") }
        let began = ContinuousClock.now
        return { start.adding(seconds: (ContinuousClock.now - began).components.seconds) ?? start }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.count > 1, text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}

/// Logs as one JSON object per line on standard error: time, level, label, message and
/// the metadata, for log collectors.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level, message = event.message, extra = event.metadata
        var object: [String: JSONValue] = [
            "time": .string(Timestamp(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))?.description ?? ""),
            "level": .string(level.rawValue), "label": .string(label), "message": .string(SafeText.sanitize(message.description)),
        ]
        for (key, value) in metadata.merging(extra ?? [:], uniquingKeysWith: { $1 }) where object[key] == nil {
            object[key] = .string(SafeText.sanitize("\(value)"))
        }
        var bytes = Canonical.encode(.object(object))
        bytes.append(UInt8(ascii: "\n"))
        FileHandle.standardError.write(Data(bytes))
    }
}
