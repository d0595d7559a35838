// Sync runner: in progress.
