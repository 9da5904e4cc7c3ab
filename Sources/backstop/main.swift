import BackstopCLI

// Folders only: a database ledger is handed to backstop-server.
BackstopCommandLine.main()
