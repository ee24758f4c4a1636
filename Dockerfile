# persistence_exporter: a static binary on a distroless base, running as a non-root user.
#
#   docker build -t persistence_exporter .
#   docker run -p 9863:9863 -v /path/to/config.yml:/etc/persistence_exporter/persistence_exporter.yml:ro persistence_exporter
#   docker run -v ...:ro persistence_exporter advise --format=markdown
#
# The configuration is read from /etc/persistence_exporter/persistence_exporter.yml (the
# working directory and the default --config.file). Secrets: mount files and use dsn_file /
# password_file, or pass dsn_env / password_env variables.
#
# pgBackRest targets run `pgbackrest info`, which the default image does not have: build the
# `pgbackrest` stage (docker build --target pgbackrest ...), a Debian image with pgBackRest.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.1.0
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION} -X github.com/prometheus/common/version.BuildUser=docker" \
      -o /out/persistence_exporter ./cmd/persistence_exporter \
 && /out/persistence_exporter --version

# With pgBackRest, for pgbackrest targets (its repository and configuration mounted as well).
FROM debian:bookworm-slim AS pgbackrest
RUN apt-get update \
 && apt-get install -y --no-install-recommends pgbackrest ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 65532 --home-dir /nonexistent --shell /usr/sbin/nologin exporter
COPY --from=build /out/persistence_exporter /bin/persistence_exporter
WORKDIR /etc/persistence_exporter
USER 65532:65532
EXPOSE 9863
ENTRYPOINT ["/bin/persistence_exporter"]

# The default: nothing but the binary, CA certificates and a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/persistence_exporter /bin/persistence_exporter
WORKDIR /etc/persistence_exporter
USER 65532:65532
EXPOSE 9863
ENTRYPOINT ["/bin/persistence_exporter"]
