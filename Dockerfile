# syntax=docker/dockerfile:1
# herald's image: built with cargo on Debian bookworm, run on bookworm-slim
# as a non-root user. The build step is the command CI checks
# (scripts/check-deploy builds the same `cargo build --locked --bin herald`),
# so a step that breaks there breaks here too.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
# The sources the binary is built from: the migrations are embedded by
# `sqlx::migrate!`, so they are part of the build.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
# The C parts (aws-lc, mimalloc) build with the image's gcc; nothing else
# is needed. Cargo's registry and the target directory live in cache mounts, so a
# rebuild after a source change recompiles herald, not its dependencies;
# the binary is copied out of the mount because a mount is not part of the
# image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin herald \
    && install -D -m 0755 target/release/herald /out/herald

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# What the binary needs at run time, checked against it by
# scripts/check-deploy (ldd): libc6 and libgcc-s1, both already in the slim
# image. ca-certificates: the providers' TLS certificates are verified
# against the system's roots. curl: the HEALTHCHECK's probe.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid, so that Kubernetes' runAsNonRoot can check it without a
# name lookup.
RUN groupadd --system --gid 10001 herald \
    && useradd --system --uid 10001 --gid herald --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin herald
COPY --from=build /out/herald /usr/local/bin/herald
COPY herald.example.toml /etc/herald/herald.example.toml
# `--config` defaults to HERALD_CONFIG: mount the real file here.
ENV HERALD_CONFIG=/etc/herald/herald.toml \
    RUST_LOG=herald=info
USER 10001:10001
# [http] listen: herald.compose.toml and the Kubernetes ConfigMap use
# 0.0.0.0:9464, the port the probe below and the scrapers use.
EXPOSE 9464
# /healthz answers 200 while the process runs; readiness (/readyz) is the
# orchestrator's business, since a worker waiting for its services must
# not be restarted for it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["herald"]
CMD ["worker"]
