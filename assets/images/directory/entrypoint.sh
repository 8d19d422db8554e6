#!/bin/bash
# Checks the settings, writes slapd's config from them, seeds an empty /var/lib/ldap with
# the base DIT (once: a replaced container on the same volume keeps the directory), and
# runs slapd in the foreground as openldap.
set -euo pipefail
fail() { echo "semail-directory: $*" >&2; exit 2; }

data=/var/lib/ldap
run=/run/slapd
conf=$run/slapd.conf

base=${LDAP_BASE_DN:-}
# As the component passes it: LDAP_DOMAIN semail.email means dc=semail,dc=email.
[[ -z $base && -n ${LDAP_DOMAIN:-} ]] && base="dc=${LDAP_DOMAIN//./,dc=}"
[[ -n $base ]] || fail "LDAP_BASE_DN is not set (e.g. LDAP_BASE_DN=dc=semail,dc=email)"
[[ $base =~ ^dc=[A-Za-z0-9-]+(,dc=[A-Za-z0-9-]+)*$ ]] ||
  fail "LDAP_BASE_DN=\"$base\" is not a DN of dc= parts (a-z, 0-9, '-'), e.g. dc=semail,dc=email"

if [[ -n ${LDAP_ADMIN_PASSWORD_FILE:-} ]]; then
  [[ -z ${LDAP_ADMIN_PASSWORD:-} ]] || fail "set LDAP_ADMIN_PASSWORD or LDAP_ADMIN_PASSWORD_FILE, not both"
  [[ -r $LDAP_ADMIN_PASSWORD_FILE ]] || fail "LDAP_ADMIN_PASSWORD_FILE=$LDAP_ADMIN_PASSWORD_FILE cannot be read"
  password=$(<"$LDAP_ADMIN_PASSWORD_FILE")
else
  password=${LDAP_ADMIN_PASSWORD:-}
fi
[[ -n $password ]] || fail "LDAP_ADMIN_PASSWORD (or LDAP_ADMIN_PASSWORD_FILE) is not set or empty"
# Not left in the environment slapd inherits.
unset LDAP_ADMIN_PASSWORD

if [[ -f $data/semail-base-dn ]] && [[ $(<"$data/semail-base-dn") != "$base" ]]; then
  fail "LDAP_BASE_DN=$base, but $data holds the directory of $(<"$data/semail-base-dn")"
fi

mkdir -p "$run"
chown openldap:openldap "$run"
# Hashed through a file descriptor, so the password never shows in a process list.
hash=$(slappasswd -n -T <(printf %s "$password"))
umask 027
# The same database, schema, indexes and access rules as local mode's slapd.
cat >"$conf" <<CONF
# Written by semail-directory at each start from its environment.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile $run/slapd.pid
argsfile $run/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 1073741824
suffix "$base"
rootdn "cn=admin,$base"
rootpw $hash
directory $data
index objectClass eq
index uid,member,uniqueMember,memberUid eq
# Password hashes are for binding only; everything else is readable (logins and group checks search anonymously).
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
CONF
chgrp openldap "$conf"
umask 022

# The seed mark is written after slapadd succeeds: a database without it is a half-done
# seed, redone from scratch.
if [[ ! -f $data/semail-seeded ]]; then
  rm -f "$data"/*.mdb
  dc=${base%%,*}
  slapadd -q -f "$conf" <<LDIF
dn: $base
objectClass: top
objectClass: dcObject
objectClass: organization
dc: ${dc#dc=}
o: SEMail

dn: ou=people,$base
objectClass: organizationalUnit
ou: people

dn: ou=groups,$base
objectClass: organizationalUnit
ou: groups

dn: cn=admins,ou=groups,$base
objectClass: groupOfNames
cn: admins
member: cn=admin,$base
LDIF
  printf '%s\n' "$base" >"$data/semail-base-dn"
  date -u +%FT%TZ >"$data/semail-seeded"
  echo "semail-directory: seeded $base in $data" >&2
else
  echo "semail-directory: reusing the directory of $base in $data" >&2
fi
chown -R openldap:openldap "$data"
printf '%s\n' "$base" >"$run/base-dn"

exec /usr/sbin/slapd -d 0 -u openldap -g openldap -h "ldap:/// ldapi:///" -f "$conf"
