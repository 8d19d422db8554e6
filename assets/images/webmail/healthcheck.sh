#!/bin/bash
# Healthy when nginx serves Roundcube's login page over HTTPS (through php-fpm). The
# certificate is not checked here: it is the deployment's, for its public name.
exec php -r '$context = stream_context_create(["ssl" => ["verify_peer" => false, "verify_peer_name" => false]]);
$page = @file_get_contents("https://127.0.0.1/", false, $context);
exit($page !== false && strpos($page, "rcmloginuser") !== false ? 0 : 1);'
