# One Dockerfile builds every Go service of the stack:
#
#   docker buildx build --build-arg SERVICE=api -t docker-examples/api:dev .
#
# GO_IMAGE is the builder. Its default is the official image a user pulls;
# on machines without a registry, `make images` passes a stand-in built
# from Debian's packages (scripts/standins.sh). The final image is the same
# either way: a static binary on scratch, with CA certificates and a passwd
# entry for UID 1001, and a HEALTHCHECK that runs the binary itself.
ARG GO_IMAGE=golang:1.26.11-bookworm

FROM ${GO_IMAGE} AS build
ARG SERVICE
WORKDIR /src
# The image builds the root module alone (GOWORK=off): the workspace's
# second module, tools/, holds lint tools the services never link.
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local GOWORK=off
# Module downloads first, so source edits don't re-download them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY platform/ platform/
COPY migrations/ migrations/
COPY services/ services/
ARG VERSION=dev
ARG COMMIT=unknown
# Generated files are made here, never committed. swaggerui_trimmed keeps
# only the Swagger UI files /docs loads in the api (see its swaggerui package).
ARG GO_BUILD_TAGS=swaggerui_trimmed
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=api|frontend|lb" >&2; exit 1; } ; \
    mkdir -p /out/etc/ssl/certs /out/tmp && \
    go generate "./services/${SERVICE}/..." && \
    go build -tags "${GO_BUILD_TAGS}" -ldflags "-s -w \
      -X github.com/docker-examples/stack/platform/buildinfo.Version=${VERSION} \
      -X github.com/docker-examples/stack/platform/buildinfo.Commit=${COMMIT}" \
      -o /out/service "./services/${SERVICE}/cmd/${SERVICE}" && \
    cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ && \
    echo "app:x:1001:1001:app:/nonexistent:/sbin/nologin" > /out/etc/passwd && \
    echo "app:x:1001:" > /out/etc/group && \
    chmod 1777 /out/tmp

FROM scratch
ARG SERVICE
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="docker-examples ${SERVICE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.source="https://github.com/docker-examples/stack"
COPY --from=build /out/ /
USER 1001:1001
ENTRYPOINT ["/service"]
CMD ["serve"]
HEALTHCHECK --interval=30s --timeout=10s --retries=3 --start-period=40s \
    CMD ["/service", "healthcheck"]
