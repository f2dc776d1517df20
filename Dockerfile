# mosaic-bot: multi-stage build, small runtime image, non-root user.
#
#   docker build -t mosaic-bot .
#   docker run -v ./config:/opt/mosaic/config:ro -v mosaic-data:/var/lib/mosaic \
#     -e MOSAIC__BACKEND__TOKEN=… -p 8080:8080 mosaic-bot
#
# Configuration: a mounted /opt/mosaic/config/mosaic.toml (read when
# present), and MOSAIC__SECTION__KEY environment variables over it, so either
# alone works. State (the SQLite file by default) lives in the
# /var/lib/mosaic volume.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin mosaic-bot \
 && strip target/release/mosaic-bot

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/mosaic --create-home mosaic
COPY --from=build /src/target/release/mosaic-bot /usr/local/bin/mosaic-bot
USER mosaic
WORKDIR /opt/mosaic
VOLUME ["/var/lib/mosaic"]
ENV MOSAIC__HTTP__LISTEN=0.0.0.0:8080 \
    MOSAIC__STORE__URL=sqlite:///var/lib/mosaic/mosaic.db
# 8080: /healthz, /readyz and /metrics; 8081: the Mattermost slash command
# (mattermost.slash_listen = "0.0.0.0:8081"); 8082: Slack's Events API and
# slash command over HTTP (slack.http_listen = "0.0.0.0:8082"). Socket Mode
# and the Discord gateway need no inbound port.
EXPOSE 8080 8081 8082
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["mosaic-bot"]
CMD ["serve"]
