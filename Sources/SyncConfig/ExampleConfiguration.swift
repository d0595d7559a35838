/// The commented configuration that `ldapsync init` writes (SPEC §3's example).
///
/// It loads as it is (a test checks that), but the values marked `CHANGE ME` describe an
/// imaginary `example.com` directory and must be replaced before the first run.
public enum ExampleConfiguration {
    public static let yaml = #"""
    # ldapsync configuration. Reference: docs/configuration.md.
    #
    # Lines marked "CHANGE ME" describe an example directory: replace them with yours,
    # then run `ldapsync doctor` and `ldapsync plan` before the first `ldapsync run`.
    # Relative paths (state, app.path, audit.path, passwordFile, tls.caFile) are resolved
    # against the directory of this file, so cron finds the same files as you do.
    # Durations: 500ms, 30s, 10m, 1h, 2h30m. Limits: a count (50) or a percentage (5%).
    version: 1

    # The LMDB state directory: snapshots, cursors, retry set, conflicts, run history.
    state: /var/lib/ldapsync

    directories:                        # one or more; each has its own cursor
      - name: corp                      # letters, digits, - _ . ; names the directory's state
        type: openldap                  # openldap | ad | generic: sets the defaults of id, key, timestamp, filters
        url: ldaps://dc1.example.com    # CHANGE ME: ldap://, ldaps:// or ldapi://
        startTLS: false                 # true upgrades an ldap:// connection with StartTLS
        tls: { caFile: null, verify: true }   # caFile: a PEM bundle when the CA is not in the system store
        allowPlaintext: false           # a password over plain ldap:// to another host is refused unless true
        # The account ldapsync reads with. Its password is in a file readable only by
        # ldapsync (chmod 600), or in an environment variable (passwordEnv: NAME).
        # An inline password is refused.
        bind: { dn: "cn=sync,ou=services,dc=example,dc=com", passwordFile: corp.pw }  # CHANGE ME
        writeBind: null                 # separate account for write-back, {dn, passwordFile}; null uses bind
        timeout: 30s                    # per LDAP operation
        users:
          base: "ou=people,dc=example,dc=com"   # CHANGE ME
          scope: sub                    # base | one | sub
          filter: "(objectClass=inetOrgPerson)"
          id: entryUUID                 # the immutable id; objectGUID for AD
          key: uid                      # matches the app key; sAMAccountName for AD
        groups:                         # remove this section when no group is synced
          base: "ou=groups,dc=example,dc=com"   # CHANGE ME
          filter: "(objectClass=groupOfNames)"
          members: member               # member | uniqueMember | memberUid | memberOf
        timestamp:
          attribute: modifyTimestamp    # whenChanged for AD
          pattern: openldap             # openldap | ad | an explicit pattern such as yyyyMMddHHmmss'Z'
          overlap: 10m                  # re-read this far behind the cursor
        pageSize: 1000                  # AD caps pages at 1000
        deletions: every-run            # every-run | full-only | tombstones (AD) | off

    app:
      kind: sqlite                      # sqlite | postgres (url: postgres://…, passwordFile or passwordEnv)
      path: app.db                      # the SQLite database; ldapsync init creates its tables
      users:  { table: users, key: key, managed: ldap_managed, active: active, updatedAt: updated_at }
      memberships: { table: group_members, user: user_key, group: group_name }
      findEdits: scan                   # scan (compare every row each run) | updated-at (rows updated since the last run)

    # The mapped fields; only these are synced. CHANGE ME to your schema and columns.
    # direction: from-ldap (default) | to-ldap | both
    # conflict: ldap-wins (default) | app-wins | newest | manual
    attributes:
      - { ldap: mail, app: email }
      - { ldap: telephoneNumber, app: phone, direction: both, conflict: newest }
      - { ldap: trainingRecord, app: training, direction: to-ldap, multiValued: true, transform: json }
      - { ldap: jpegPhoto, app: photo, binary: true }
      - { ldap: employeeNumber, app: badge, sensitive: true }   # values never logged or audited

    # No LDAP write happens unless this is true AND the attribute's direction allows it.
    writeBack: { enabled: false }

    # Which users are synced and which memberships are managed:
    #   no groups: key  -> every user in scope, no memberships
    #   groups: mirror  -> every user in scope, every LDAP group becomes an app group
    #   a list of rules -> only members of the mapped LDAP groups, memberships by rule
    groups:
      - { app: GrpAE,   ldap: "cn=GrpLDAP,ou=groups,dc=example,dc=com" }     # CHANGE ME
      - { app: GrpAE_B, ldap: "cn=GrpLDAP_B,ou=groups,dc=example,dc=com" }   # CHANGE ME

    users:
      autoDeactivate: false             # deactivate managed app users that no longer exist in LDAP
      adoptExisting: false              # tag an untagged app user whose key matches an in-scope LDAP user

    safety:
      maxDeactivations: 5%              # of managed users; more aborts the run before any write unless --force
      maxGroupRemovals: 10%

    cursor:
      display: "dd-MM-yyyy HH:mm:ss"    # how cursors are shown and typed (UTC); ISO 8601 is always accepted too

    audit: { path: /var/log/ldapsync/audit.jsonl }

    """#
}
