import ArgumentParser

/// `backstop serve` runs in `backstop-server` (it links the HTTP server); `backstop` hands
/// it over before parsing, so this verb runs only when that executable is missing.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the fund over HTTP: the signing queue, the public dashboard and petition pages (runs backstop-server).",
        discussion: """
            Example: backstop serve --ledger fund/ --listen 127.0.0.1:8080
            The service is the ledger's writer while it runs. See Docs/SERVICE.md and Docs/openapi.json.
            """
    )

    @Argument(parsing: .captureForPassthrough, help: "Options of backstop-server serve (--ledger, --listen, ...).")
    var options: [String] = []

    func run() throws {
        throw CLIError.badInput("serve runs in backstop-server, which is not beside this backstop; build it with: swift build -c release --product backstop-server")
    }
}
