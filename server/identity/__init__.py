"""Identity and access: the sign-in directory (LDAP / Active Directory), the office networks and the
password policy applied to the server's Auth, and user administration (docs/identity.md)."""
