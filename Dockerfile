# One image, one binary: `oneticket`. docker-compose.yml runs it beside
# Postgres 16 and Redis 7.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p oneticket

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/oneticket oneticket \
 && mkdir -p /var/lib/oneticket/keys && chown -R oneticket /var/lib/oneticket && chmod 700 /var/lib/oneticket/keys
COPY --from=build /src/target/release/oneticket /usr/local/bin/oneticket
COPY --from=build /src/config /usr/share/oneticket/config
USER oneticket
WORKDIR /var/lib/oneticket
# The key store: a named volume in docker-compose.yml keeps it across restarts.
ENV OT_KEY_DIR=/var/lib/oneticket/keys
EXPOSE 8080
ENTRYPOINT ["oneticket"]
CMD ["serve"]
