# PostgreSQL 15 for rollcall, from Debian's own packages (no registry
# image needed).  On its first start it creates the cluster, the role and
# the database 'rollcall', with the password from POSTGRES_PASSWORD_FILE,
# or, when that file does not exist, a random one it writes there for the
# rollcall service to read.  No password ships with the image.
FROM debian:bookworm
RUN apt-get update && \
    apt-get install -y --no-install-recommends postgresql-15 && \
    apt-get clean && rm -rf /var/lib/apt/lists/* && \
    mkdir -p /var/lib/postgresql/data /run/postgresql && \
    chown postgres:postgres /var/lib/postgresql/data /run/postgresql
COPY scripts/docker/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data/pgdata
EXPOSE 5432
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=20 \
    CMD ["pg_isready", "-q", "-h", "127.0.0.1", "-U", "rollcall", "-d", "rollcall"]
ENTRYPOINT ["sh", "/usr/local/bin/postgres-entrypoint.sh"]
