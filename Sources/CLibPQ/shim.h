#ifndef CLIBPQ_SHIM_H
#define CLIBPQ_SHIM_H

// libpq, the PostgreSQL client library (Debian libpq-dev). Imported only by the
// PostgreSQL app store (Sources/AppStore/Postgres*.swift). Everything Swift needs
// imports directly; no inline shims so far.
#include <libpq-fe.h>

#endif
