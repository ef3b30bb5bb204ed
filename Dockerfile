# One image with every Mercato binary: api, quote-worker, offer-poller,
# migrations, and the two third-party fakes (offers-fake, stooq-fake).
#
#   docker build -t mercato .
#   docker run --rm -p 8080:8080 mercato          # embedded mode: everything in one process
#
# docker-compose.yml runs the cluster from this image.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src

# 1. Dependencies only: the workspace's manifests and lock file, with stub
#    sources. This layer is rebuilt only when a manifest or Cargo.lock
#    changes, not on every source change.
COPY Cargo.toml Cargo.lock ./
COPY api/Cargo.toml api/
COPY feed/Cargo.toml feed/
COPY migrations/Cargo.toml migrations/
COPY offer-poller/Cargo.toml offer-poller/
COPY quote-worker/Cargo.toml quote-worker/
COPY platform/Cargo.toml platform/
COPY rpc/Cargo.toml rpc/
COPY catalog-entities/Cargo.toml catalog-entities/
COPY fakes/Cargo.toml fakes/
COPY tests/Cargo.toml tests/
RUN set -eux; \
    for crate in api feed migrations offer-poller quote-worker platform rpc catalog-entities fakes tests; do \
        mkdir -p "$crate/src"; touch "$crate/src/lib.rs"; \
    done; \
    for crate in api migrations offer-poller quote-worker; do \
        echo 'fn main() {}' > "$crate/src/main.rs"; \
    done; \
    mkdir -p fakes/src/bin tests/tests; \
    echo 'fn main() {}' > fakes/src/bin/offers-fake.rs; \
    echo 'fn main() {}' > fakes/src/bin/stooq-fake.rs; \
    touch tests/tests/main.rs; \
    cargo build --release --locked --workspace --bins; \
    rm -rf api/src feed/src migrations/src offer-poller/src quote-worker/src platform/src rpc/src catalog-entities/src fakes/src tests/src tests/tests

# 2. The sources. COPY keeps their modification times, which may be older
#    than the stubs' build: touch them so cargo rebuilds Mercato's crates.
COPY . .
RUN set -eux; \
    find api feed migrations offer-poller quote-worker platform rpc catalog-entities fakes tests -name '*.rs' -exec touch {} +; \
    cargo build --release --locked --workspace --bins; \
    mkdir /out; \
    for bin in api quote-worker offer-poller migrations offers-fake stooq-fake; do \
        cp "target/release/$bin" /out/; \
    done

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --create-home mercato
COPY --from=build /out/ /usr/local/bin/
USER mercato
WORKDIR /app
RUN mkdir -p /app/data /app/spool
# The embedded mode's SQLite file lives in /app/data, feed bodies in
# /app/spool: two volumes, so spooled feeds never fill the database's
# disk (and INGEST_SPOOL_MIN_FREE_BYTES keeps headroom on the spool's).
VOLUME ["/app/data", "/app/spool"]
ENV PUBLIC_ADDR=0.0.0.0:8080 \
    INGEST_SPOOL_DIR=/app/spool \
    LOG_FORMAT=json
EXPOSE 8080
# `api healthcheck` asks this container's own /healthz; the workers have
# no HTTP listener, so the compose file leaves them without one.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["api", "healthcheck"]
CMD ["api"]
