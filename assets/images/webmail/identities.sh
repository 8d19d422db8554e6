#!/bin/sh
# Points each Roundcube identity at its owner's address in the address file: run after the
# address file is rewritten (the deployment does), and at each start. As www-data, the
# database's owner.
exec setpriv --reuid=www-data --regid=www-data --init-groups php /usr/local/share/semail-webmail/identities.php
