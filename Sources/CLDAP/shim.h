#ifndef CLDAP_SHIM_H
#define CLDAP_SHIM_H

#include <lber.h>
#include <ldap.h>

/// `LDAP_OPT_ON` is a pointer macro, `((void *) &ber_pvt_opt_on)`, which Swift cannot
/// import. Returned here for `ldap_set_option` switches (referrals, restart).
static inline void *cldap_opt_on(void) { return LDAP_OPT_ON; }

/// `LDAP_OPT_OFF` is `((void *) 0)`; named for symmetry with `cldap_opt_on`.
static inline void *cldap_opt_off(void) { return LDAP_OPT_OFF; }

/// Puts liblber's read-ahead layer (`ber_sockbuf_io_readahead`, `size` bytes) on top of
/// the socket of `ld`'s open connection, below TLS. libldap gives TCP connections none, so
/// without it every message costs two read(2) calls (tag and length, then the rest) and
/// one poll(2). With it, reads fill the buffer, and `ldap_result` takes the messages
/// already there without polling (`LBER_SB_OPT_DATA_READY`). Returns 1 when the layer was
/// added, 0 when it was already there, -1 when the handle has no open connection yet or
/// the layer could not be added.
static inline int cldap_add_read_ahead(LDAP *ld, ber_len_t size) {
    Sockbuf *sb = NULL;
    if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == NULL) return -1;
    if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_HAS_IO, &ber_sockbuf_io_readahead) == 1) return 0;
    if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_HAS_IO, &ber_sockbuf_io_tcp) != 1
        && ber_sockbuf_ctrl(sb, LBER_SB_OPT_HAS_IO, &ber_sockbuf_io_fd) != 1) return -1;
    if (ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER, NULL) != 0) return -1;
    if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_READAHEAD, &size) != 1) {
        ber_sockbuf_remove_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER);
        return -1;
    }
    return 1;
}

/// Whether the sockbuf of `ld`'s connection reads through liblber's read-ahead layer.
static inline int cldap_has_read_ahead(LDAP *ld) {
    Sockbuf *sb = NULL;
    if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == NULL) return 0;
    return ber_sockbuf_ctrl(sb, LBER_SB_OPT_HAS_IO, &ber_sockbuf_io_readahead) == 1;
}

#endif
