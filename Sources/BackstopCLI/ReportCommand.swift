import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the dashboard's views as one self-contained HTML file, made from a verified ledger.",
        discussion: """
            Example: backstop report --ledger fund/ --out report.html
            The ledger is verified whole first (every entry, signature and rule); a ledger that \
            is not intact gets no report. The file has its CSS inline, its charts as inline SVG, \
            no script and nothing fetched from elsewhere: fit for a board pack or a journalist. \
            OUT must not exist.
            """
    )

    @OptionGroup var options: LedgerOptions
    @OptionGroup var clock: ClockOptions

    @Option(help: "The HTML file to write (must not exist).")
    var out: String

    func run() throws {
        let location = try options.location()
        let (state, history): (FundState, FundHistory)
        switch location {
        case .folder(let folder):
            guard FileManager.default.fileExists(atPath: folder.appendingPathComponent(LedgerStore.ledgerFileName).path) else {
                throw CLIError.badInput("no ledger in \(SafeText.escape(folder.path)) (\(LedgerStore.ledgerFileName) is missing)")
            }
            (state, history) = try replaying(folder) { try FundHistory.read(folder: folder) }
        case .store, .service:
            let storage = try location.openForReading()
            defer { storage.close() }
            (state, history) = try replaying(location.display) { try FundHistory.read(storage: storage) }
        }
        let context = Pages.Context(now: try clock.time(), history: history, queue: nil,
                                    copyCommand: "# a copy of the ledger this report was made from (\(state.entryCount) entries)")
        try Files.writeNew(out, Array(Pages.dashboard(state, context, live: false).utf8), mode: 0o644, what: "report file")
        print("wrote \(out): the fund as of \(context.now), from \(state.entryCount) verified entries (head \(Hex.encode(state.head).prefix(16))…)")
    }
}
