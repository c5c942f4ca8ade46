# syntax=docker/dockerfile:1
#
# A small static roster image:
#   docker build -t roster .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/repo" roster plan
#
# The build stage runs on the build machine's platform and cross-compiles a static musl
# binary for the image's platform with cargo-zigbuild, so a multi-platform build
# (--platform linux/amd64,linux/arm64) needs no emulation. The final image is
# distroless/static: CA certificates (for Graph, SCIM and LDAPS), /etc/passwd with a
# nonroot user, no shell. roster reads Git repositories through its vendored libgit2 and
# runs no other program, so no git binary is needed.

ARG RUST_VERSION=1.89

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-pip \
 && rm -rf /var/lib/apt/lists/* \
 && pip3 install --break-system-packages --no-cache-dir "cargo-zigbuild==0.20.1"
RUN case "$TARGETARCH" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH $TARGETARCH" >&2; exit 1 ;; \
    esac > /target && rustup target add "$(cat /target)"
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo zigbuild --release --locked --bin roster --target "$(cat /target)" \
 && cp "target/$(cat /target)/release/roster" /roster

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /roster /usr/local/bin/roster
WORKDIR /repo
USER nonroot
ENTRYPOINT ["/usr/local/bin/roster"]
CMD ["--help"]
