# syntax=docker/dockerfile:1
#
# The attestgate image: one static binary, CA roots, nothing else (no shell),
# running as the unprivileged user 65532.
#
# Connected machine (BuildKit, the default builder of Docker >= 23):
#
#     docker build -t attestgate .
#
# Offline, from a binary built beforehand (this is what scripts/image-test.sh
# does; no base image is pulled, the build context is a directory holding
# dist/attestgate and dist/ca-certificates.crt):
#
#     RUSTFLAGS="-C target-feature=+crt-static" \
#       cargo build --release --target x86_64-unknown-linux-gnu --bin attestgate
#     mkdir -p ctx/dist
#     cp target/x86_64-unknown-linux-gnu/release/attestgate ctx/dist/
#     cp /etc/ssl/certs/ca-certificates.crt ctx/dist/
#     buildah bud --build-arg BINARY_SOURCE=prebuilt -f Dockerfile -t attestgate ctx
#
# The binary is linked statically against glibc (crt-static): since glibc
# 2.34 the "files" and "dns" name services are part of libc, so name
# resolution works without any shared library in the image.

ARG RUST_VERSION=1.95
# "source": compile in the build-source stage; "prebuilt": take dist/ from the context.
ARG BINARY_SOURCE=source

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build-source
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eux; \
    target="$(rustc -vV | sed -n 's/^host: //p')"; \
    # No debug info in the image (the release profile keeps line tables).
    RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_STRIP=debuginfo \
      cargo build --release --locked --target "$target" --bin attestgate; \
    mkdir -p /out; \
    cp "target/$target/release/attestgate" /out/attestgate; \
    cp /etc/ssl/certs/ca-certificates.crt /out/ca-certificates.crt; \
    /out/attestgate --version

FROM scratch AS build-prebuilt
COPY dist/attestgate /out/attestgate
COPY dist/ca-certificates.crt /out/ca-certificates.crt

FROM build-${BINARY_SOURCE} AS build

FROM scratch AS runtime
LABEL org.opencontainers.image.title="attestgate" \
      org.opencontainers.image.description="Kubernetes admission webhook: Rego policies over per-platform supply-chain attestations" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/attestgate /usr/local/bin/attestgate
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# Numeric, so that runAsNonRoot can verify it without an /etc/passwd.
USER 65532:65532
# 8443: webhook (HTTPS); 9090: /metrics, /healthz, /readyz (HTTP).
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/attestgate"]
CMD ["serve"]
