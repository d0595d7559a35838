#ifndef CLDAP_SHIM_H
#define CLDAP_SHIM_H

#include <lber.h>
#include <ldap.h>

/// `LDAP_OPT_ON` is a pointer macro, `((void *) &ber_pvt_opt_on)`, which Swift cannot
/// import. Returned here for `ldap_set_option` switches (referrals, restart).
static inline void *cldap_opt_on(void) { return LDAP_OPT_ON; }

/// `LDAP_OPT_OFF` is `((void *) 0)`; named for symmetry with `cldap_opt_on`.
static inline void *cldap_opt_off(void) { return LDAP_OPT_OFF; }

#endif
