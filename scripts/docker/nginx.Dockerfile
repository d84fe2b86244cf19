# TLS front for rollcall: nginx from Debian (conf/nginx/rollcall.conf):
# a public listener for /scim/v2 only and an internal one for the rest.
# Mount a real certificate at /etc/rollcall/tls (tls.crt, tls.key);
# without one, a self-signed certificate is made on first start.
FROM debian:bookworm
RUN apt-get update && \
    apt-get install -y --no-install-recommends nginx-light openssl curl \
        ca-certificates && \
    apt-get clean && rm -rf /var/lib/apt/lists/* && \
    rm -f /etc/nginx/sites-enabled/default && \
    ln -sf /dev/stdout /var/log/nginx/access.log && \
    ln -sf /dev/stderr /var/log/nginx/error.log
COPY conf/nginx/rollcall.conf /etc/nginx/conf.d/rollcall.conf
COPY scripts/docker/nginx-entrypoint.sh /usr/local/bin/nginx-entrypoint.sh
EXPOSE 443 8443
# Through the internal listener to rollcall's /readyz: healthy means the
# whole path works, not only that nginx runs.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["curl", "-fsSk", "-o", "/dev/null", "https://127.0.0.1:8443/readyz"]
ENTRYPOINT ["sh", "/usr/local/bin/nginx-entrypoint.sh"]
