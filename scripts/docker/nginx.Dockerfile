# TLS front for rollcall: nginx from Debian, TLS 1.2 and 1.3 only.
# Mount a real certificate at /etc/rollcall/tls (tls.crt, tls.key);
# without one, a self-signed certificate is made on first start.
FROM debian:bookworm
RUN apt-get update && \
    apt-get install -y --no-install-recommends nginx-light openssl && \
    rm -rf /var/lib/apt/lists/* && \
    rm -f /etc/nginx/sites-enabled/default && \
    ln -sf /dev/stdout /var/log/nginx/access.log && \
    ln -sf /dev/stderr /var/log/nginx/error.log
COPY conf/nginx/rollcall.conf /etc/nginx/conf.d/rollcall.conf
COPY scripts/docker/nginx-entrypoint.sh /usr/local/bin/nginx-entrypoint.sh
EXPOSE 443
ENTRYPOINT ["sh", "/usr/local/bin/nginx-entrypoint.sh"]
