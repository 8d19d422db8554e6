// nginx's configuration for the webmail image (provisioning/images/webmail), as
// Mail-in-a-Box serves Roundcube: HTTPS with the deployment's certificate in front of
// php-fpm. Pure.
//
// Decisions, said once:
// - TLS 1.2 and 1.3 only, Mozilla's "intermediate" ciphers; HSTS for a year (without
//   includeSubDomains: the users' subdomains are theirs).
// - Port 80 answers only two things: ACME HTTP-01 challenges from `acmeDir` (so certbot
//   --webroot renews the certificate while 80 is ours) and a 301 to HTTPS for the rest.
// - Only index.php runs; of the rest of the web root only static files by extension are
//   served (the plugins folder holds PHP and .inc sources that must never be sent).
// - Only static types are compressed: a compressed page carrying the CSRF token would give
//   BREACH something to measure.

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
}

export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;
/** TLS versions served: nothing older. */
export const TLS_PROTOCOLS = ["TLSv1.2", "TLSv1.3"] as const;
/** Mozilla's intermediate list (TLS 1.2; 1.3 picks its own). */
const CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
/** What Roundcube's skins and scripts are made of. */
const STATIC = "css|js|map|png|gif|jpe?g|svg|ico|webp|woff2?|ttf|eot|mp3|wav";
export const HSTS = "max-age=31536000";

function listen(port: number, extra: string, ipv6: boolean): string[] {
  return [`        listen ${port}${extra};`, ...(ipv6 ? [`        listen [::]:${port}${extra};`] : [])];
}

export function renderNginxConfig(c: NginxConfig): string {
  return [
    "# Written by SEMail (provisioning/webmail/nginx.ts); edits are overwritten.",
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
    "    server {",
    ...listen(HTTP_PORT, " default_server", c.ipv6),
    "        location ^~ /.well-known/acme-challenge/ {",
    `            root ${c.acmeDir};`,
    "            default_type text/plain;",
    "        }",
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
    "        location = / {",
    "        }",
    "        location / {",
    "            return 404;",
    "        }",
    "    }",
    "}",
    "",
  ].join("\n");
}
