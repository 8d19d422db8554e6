// nginx's configuration for the webmail image (assets/images/webmail), as
// Mail-in-a-Box serves Roundcube: HTTPS with the deployment's certificate in front of
// php-fpm. Pure.
//
// Decisions, said once:
// - TLS 1.2 and 1.3 only, Mozilla's "intermediate" ciphers; HSTS for a year (without
//   includeSubDomains: the users' subdomains are theirs).
// - Port 80 answers only three things: ACME HTTP-01 challenges from `acmeDir` (so certbot
//   --webroot renews the certificate while 80 is ours), Mozilla's autoconfig, and a 301 to
//   HTTPS for the rest. Autoconfig is answered on 80 itself, with no redirect: Thunderbird
//   asks http://autoconfig.<domain>/ first, and a redirect would send it to mx.<domain>'s
//   certificate under another name. The document holds no secret; the password is only ever
//   sent inside TLS, to the servers it names.
// - Autoconfig is static: one file per live mail domain in `autoconfigDir`, written by the
//   Pulumi program (config/autoconfig.ts), read at each request (no reload when the list
//   changes). The domain asked about is the emailaddress argument's (raw or %40-encoded),
//   else the host's without `autoconfig.`, as the web form reads it; a domain that is not a
//   lowercase name (the map cannot lower it) falls back to the host, which nginx lowers. No
//   file for it: 404.
// - MTA-STS (RFC 8461): the policy at https://mta-sts.<domain>/.well-known/mta-sts.txt, on
//   HTTPS only (senders never fetch it over HTTP; port 80 redirects it as the rest), from one
//   file per served domain in `mtaStsDir` (config/stack/transport-security.ts), picked by the
//   host without `mta-sts.`; any other host, or a domain with no file: 404.
// - The policy hosts the main certificate does not name (subdomains', external domains') have
//   certificates of their own from `semail cert` (services/acme/host-certificates.ts), served by
//   SNI in a server block of their own: its server_name lines and the map name -> certificate
//   folder are files `semail cert` writes, each included by a glob that matches it alone (none
//   yet is no error, where a plain include of a missing file stops nginx), and the
//   certificate is named by a variable, so nginx loads it at each handshake in its worker (the
//   keys are readable by www-data's group). A name with no certificate in hand is in neither
//   file: it gets the default server and the main certificate.
// - Only index.php runs; of the rest of the web root only static files by extension are
//   served (the plugins folder holds PHP and .inc sources that must never be sent).
// - Only static types are compressed: a compressed page carrying the CSRF token would give
//   BREACH something to measure.

import { AUTOCONFIG_PATHS, notServedText } from "../../config/autoconfig.ts";
import { HOST_CERTIFICATES, includeGlob } from "../../config/sections/acme.ts";
import { MTA_STS_HOST_LABEL, MTA_STS_PATH } from "../../config/stack/transport-security.ts";

export interface NginxConfig {
  /** Roundcube's public web root (Debian: /var/lib/roundcube/public_html). */
  readonly webRoot: string;
  /** php-fpm's socket. */
  readonly phpSocket: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Where certbot --webroot puts its challenges. */
  readonly acmeDir: string;
  readonly pidFile: string;
  /** Largest upload (an attachment), in MiB; a request may be 1 MiB more. */
  readonly uploadMiB: number;
  /** Also listen on IPv6 (the container may have none). */
  readonly ipv6: boolean;
  /** Mozilla autoconfig documents, one `<domain>.xml` per live mail domain (config/autoconfig.ts). */
  readonly autoconfigDir: string;
  /** MTA-STS policies, one `<domain>.txt` per served domain (config/stack/transport-security.ts); none served when absent. */
  readonly mtaStsDir?: string;
  /** The policy hosts' certificates from `semail cert` (`<acme stateDir>/hosts`); served by SNI when given with mtaStsDir. */
  readonly hostCertificatesDir?: string;
}

export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;
/** TLS versions served: nothing older. */
export const TLS_PROTOCOLS = ["TLSv1.2", "TLSv1.3"] as const;
/** Mozilla's intermediate list (TLS 1.2; 1.3 picks its own). */
const CIPHERS =
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
/** What Roundcube's skins and scripts are made of. */
const STATIC = "css|js|map|png|gif|jpe?g|svg|ico|webp|woff2?|ttf|eot|mp3|wav";
export const HSTS = "max-age=31536000";

function listen(port: number, extra: string, ipv6: boolean): string[] {
  return [`        listen ${port}${extra};`, ...(ipv6 ? [`        listen [::]:${port}${extra};`] : [])];
}

/** A lowercase domain name: the only thing a map lets through to a file name (no '/', no '..'). */
const DOMAIN = "[a-z0-9-]+(?:\\.[a-z0-9-]+)*";
/** `$autoconfig_domain`: the mail domain asked about, or "" (config/autoconfig.ts askedDomain). */
const AUTOCONFIG_MAPS = [
  "    map $arg_emailaddress $autoconfig_address_domain {",
  `        "~(?:@|%40)(?<autoconfig_a>${DOMAIN})\\.?$" $autoconfig_a;`,
  '        default "";',
  "    }",
  "    map $host $autoconfig_host_domain {",
  `        "~^(?:autoconfig\\.)?(?<autoconfig_h>${DOMAIN})$" $autoconfig_h;`,
  '        default "";',
  "    }",
  "    map $autoconfig_address_domain $autoconfig_domain {",
  '        "" $autoconfig_host_domain;',
  "        default $autoconfig_address_domain;",
  "    }",
];

/** `$mta_sts_domain`: the mail domain of the host mta-sts.<domain> asked, or "". */
const MTA_STS_MAP = [
  "    map $host $mta_sts_domain {",
  `        "~^${MTA_STS_HOST_LABEL}\\.(?<mta_sts_h>${DOMAIN})$" $mta_sts_h;`,
  '        default "";',
  "    }",
];

/** The policy from the domain's file; no domain ("/.txt") or no file: 404. */
function mtaStsLocation(dir: string | undefined): string[] {
  if (dir === undefined) return [];
  return [
    `        location = ${MTA_STS_PATH} {`,
    `            root ${dir};`,
    "            types { }",
    '            default_type "text/plain; charset=utf-8";',
    "            try_files /$mta_sts_domain.txt =404;",
    "        }",
  ];
}

/** Both autoconfig paths served from the domain's file, else a 404 saying why. */
function autoconfigLocations(dir: string): string[] {
  const notServed = notServedText("$autoconfig_domain").replace(/["\\]/g, "\\$&").replace("\n", "\\n");
  return [
    ...AUTOCONFIG_PATHS.flatMap((path) => [
      `        location = ${path} {`,
      `            root ${dir};`,
      "            types { }",
      '            default_type "application/xml; charset=utf-8";',
      "            try_files /$autoconfig_domain.xml @autoconfig_not_served;",
      "        }",
    ]),
    // types { }: else the URI's .xml would pick text/xml over default_type.
    "        location @autoconfig_not_served {",
    "            types { }",
    '            default_type "text/plain; charset=utf-8";',
    `            return 404 "${notServed}";`,
    "        }",
  ];
}

/** Never a real SNI name: the policy hosts' block has a name of its own even before any is included. */
export const POLICY_HOSTS_PLACEHOLDER = "policy-hosts.invalid";

/**
 * Room for any domain name (up to 253 characters) and many of them: with the defaults (a 64-byte
 * bucket) nginx refuses the whole configuration for one longer name. Before the first map, which
 * fixes the map sizes.
 */
const NAME_HASH_SIZES = [
  "    server_names_hash_bucket_size 256;",
  "    server_names_hash_max_size 8192;",
  "    map_hash_bucket_size 256;",
  "    map_hash_max_size 8192;",
];

/** `$host_certificate_dir`: the folder of the certificate that carries the SNI name, or "". */
function hostCertificateMap(dir: string): string[] {
  return [
    "    map $ssl_server_name $host_certificate_dir {",
    `        include ${dir}/${includeGlob(HOST_CERTIFICATES.map)};`,
    "    }",
  ];
}

/** The SNI server block of the policy hosts with certificates of their own: their policy, nothing else. */
function policyHostsServer(c: NginxConfig, dir: string): string[] {
  return [
    "    server {",
    ...listen(HTTPS_PORT, " ssl http2", c.ipv6),
    `        server_name ${POLICY_HOSTS_PLACEHOLDER};`,
    `        include ${dir}/${includeGlob(HOST_CERTIFICATES.names)};`,
    "        ssl_certificate $host_certificate_dir/fullchain.pem;",
    "        ssl_certificate_key $host_certificate_dir/privkey.pem;",
    `        add_header Strict-Transport-Security "${HSTS}" always;`,
    "        add_header X-Content-Type-Options nosniff always;",
    ...mtaStsLocation(c.mtaStsDir),
    "        location / {",
    "            return 404;",
    "        }",
    "    }",
  ];
}

export function renderNginxConfig(c: NginxConfig): string {
  const hostsDir = c.mtaStsDir === undefined ? undefined : c.hostCertificatesDir;
  return [
    "# Written by SEMail (services/webmail/nginx.ts); edits are overwritten.",
    "user www-data;",
    "worker_processes 1;",
    `pid ${c.pidFile};`,
    "error_log stderr warn;",
    "events {",
    "    worker_connections 256;",
    "}",
    "http {",
    "    include /etc/nginx/mime.types;",
    "    default_type application/octet-stream;",
    "    access_log off;",
    "    server_tokens off;",
    "    sendfile on;",
    `    client_max_body_size ${c.uploadMiB + 1}m;`,
    `    ssl_protocols ${TLS_PROTOCOLS.join(" ")};`,
    `    ssl_ciphers ${CIPHERS};`,
    "    ssl_prefer_server_ciphers off;",
    "    ssl_session_cache shared:TLS:1m;",
    "    ssl_session_timeout 1d;",
    "    ssl_session_tickets off;",
    "    gzip on;",
    "    gzip_types text/css application/javascript image/svg+xml;",
    ...(hostsDir === undefined ? [] : NAME_HASH_SIZES),
    ...AUTOCONFIG_MAPS,
    ...(c.mtaStsDir === undefined ? [] : MTA_STS_MAP),
    ...(hostsDir === undefined ? [] : hostCertificateMap(hostsDir)),
    "    server {",
    ...listen(HTTP_PORT, " default_server", c.ipv6),
    "        location ^~ /.well-known/acme-challenge/ {",
    `            root ${c.acmeDir};`,
    "            default_type text/plain;",
    "        }",
    ...autoconfigLocations(c.autoconfigDir),
    "        location / {",
    "            return 301 https://$host$request_uri;",
    "        }",
    "    }",
    "    server {",
    ...listen(HTTPS_PORT, " ssl http2 default_server", c.ipv6),
    `        ssl_certificate ${c.certFile};`,
    `        ssl_certificate_key ${c.keyFile};`,
    `        add_header Strict-Transport-Security "${HSTS}" always;`,
    "        add_header X-Content-Type-Options nosniff always;",
    "        add_header Referrer-Policy same-origin always;",
    `        root ${c.webRoot};`,
    "        index index.php;",
    "        location = /index.php {",
    "            include /etc/nginx/fastcgi_params;",
    "            fastcgi_param SCRIPT_FILENAME $document_root/index.php;",
    "            fastcgi_param HTTPS on;",
    `            fastcgi_pass unix:${c.phpSocket};`,
    "        }",
    "        location = /favicon.ico {",
    "            try_files /skins/elastic/images/favicon.ico =404;",
    "        }",
    `        location ~* \\.(${STATIC})$ {`,
    "            expires 7d;",
    // add_header here would drop the server's; they are repeated.
    `            add_header Strict-Transport-Security "${HSTS}" always;`,
    "            add_header X-Content-Type-Options nosniff always;",
    "        }",
    ...autoconfigLocations(c.autoconfigDir),
    ...mtaStsLocation(c.mtaStsDir),
    "        location = / {",
    "        }",
    "        location / {",
    "            return 404;",
    "        }",
    "    }",
    ...(hostsDir === undefined ? [] : policyHostsServer(c, hostsDir)),
    "}",
    "",
  ].join("\n");
}
