#!/bin/bash
# Healthy when PHP serves Roundcube's login page.
exec php -r '$page = @file_get_contents("http://127.0.0.1:8080/"); exit($page !== false && strpos($page, "rcmloginuser") !== false ? 0 : 1);'
