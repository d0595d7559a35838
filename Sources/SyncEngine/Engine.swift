// Sync engine: in progress.
