# statsig-bridge: a static binary on a distroless base, running as non-root.
#
#   docker build -t statsig-bridge --build-arg VERSION=$(git describe --tags --always) .
#   docker run -d -p 8080:8080 -v statsig-bridge-data:/data --stop-timeout 15 \
#     -e STATSIG_API_KEYS=secret-...,client-... -e SEGMENT_WRITE_KEY=... statsig-bridge
#
# See README "Deploy". The bridge is pure Go (SQLite is modernc.org/sqlite), so
# CGO_ENABLED=0 builds a fully static binary.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/statsig-bridge/statsig-bridge/internal/cli.Version=${VERSION}" \
      -o /out/statsig-bridge ./cmd/statsig-bridge \
 && mkdir -p /out/data

# distroless/static: CA certificates (HTTPS to Segment, Statsig) and tzdata, no
# shell, no package manager; the :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/statsig-bridge /usr/local/bin/statsig-bridge
# /data is owned by the non-root user, so a new named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# The embedded JetStream log and the SQLite warehouse live in /data. Listening
# off loopback needs STATSIG_API_KEYS (the bridge refuses to start without it);
# the debugger UI there needs BRIDGE_UI_TOKEN (it is off without one).
ENV BRIDGE_LISTEN=0.0.0.0:8080 \
    BRIDGE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["statsig-bridge"]
CMD ["serve"]
