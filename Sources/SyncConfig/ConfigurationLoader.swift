// Loader: in progress.
