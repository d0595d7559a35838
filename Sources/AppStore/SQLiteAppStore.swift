// SQLite app store: in progress.
import GRDB
