# stockflow: one image holding every binary (order-worker, payment-worker,
# timeout-worker, stock-worker, alert-worker, stockctl, stockflow-devbroker).
#
#   docker build -t stockflow .
#   docker run --rm stockflow                       # prints the help
#   docker run --rm -e KAFKA_BROKERS=kafka:9092 \
#       -e DATABASE_URL=postgresql://... stockflow order-worker
#
# Configuration is the environment (DESIGN §1). In the image HTTP_PORT is
# 8080 for every worker (one per container), which the HEALTHCHECK probes.
# docker-compose.yml runs the whole fleet. Not built here (no Docker engine
# in the project's CI); see docs/operations.md.

# ---- build ------------------------------------------------------------------
FROM debian:bookworm AS build

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential meson ninja-build pkg-config python3 \
        librdkafka-dev libpq-dev libyajl-dev libcurl4-openssl-dev libmicrohttpd-dev libssl-dev check \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# Same warnings-as-errors build as CI; installed stripped into /out.
RUN meson setup /build --prefix=/usr/local \
    && ninja -C /build \
    && DESTDIR=/out meson install -C /build --no-rebuild --strip

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# Only the shared libraries the binaries link, and curl for the HEALTHCHECK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        librdkafka1 libpq5 libyajl2 libcurl4 libmicrohttpd12 libssl3 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /out/usr/local/bin/ /usr/local/bin/

RUN groupadd --system --gid 10001 stockflow \
    && useradd --system --uid 10001 --gid stockflow --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin stockflow

ENV HTTP_PORT=8080 \
    LOG_LEVEL=info
EXPOSE 8080
USER 10001:10001

# /healthz: the worker's loop is alive. One-shot commands (stockctl) serve no
# HTTP: docker-compose.yml disables the check for them.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:${HTTP_PORT}/healthz" || exit 1

# Workers handle SIGTERM themselves (finish the batch, commit, leave the
# group, exit 0); give them the 10 s they need (docker stop -t 15).
STOPSIGNAL SIGTERM

CMD ["/bin/sh", "-c", "echo 'stockflow image: run one of order-worker, payment-worker, timeout-worker, stock-worker, alert-worker or stockctl (each takes --help).'; echo 'Configuration from the environment: KAFKA_BROKERS, DATABASE_URL, ALERT_WEBHOOK_URL, HTTP_PORT (8080 here), LOG_LEVEL, RDKAFKA_<NAME>.'; echo; exec stockctl --help"]
