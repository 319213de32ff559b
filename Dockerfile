# Any cleave application's image: one statically linked binary in an empty root, nothing pulled.
#
# The build context holds only the binary, named `app`, built by `scripts/build-static.sh APP`:
#   RUSTFLAGS='-C target-feature=+crt-static' \
#     cargo build --release --target x86_64-unknown-linux-gnu -p APP
# `cleave-compare` (tests/compare) builds this image through the engine's API whenever that
# binary changed; by hand, for the shop:
#   mkdir -p /tmp/ctx && cp target/x86_64-unknown-linux-gnu/release/shop /tmp/ctx/app &&
#   docker build -t ghcr.io/cleave-rs/shop:0.1.0 -f Dockerfile /tmp/ctx
FROM scratch
ARG BUILD_ID=manual
LABEL org.opencontainers.image.title="a cleave application" \
      org.opencontainers.image.source="https://github.com/cleave-rs/cleave" \
      dev.cleave.build="${BUILD_ID}"
COPY app /app
# WORKDIR creates the directory: the application's SQLite file (`<app>.db`, its default
# database) lives here unless `--database` or `<APP>_DATABASE` says otherwise (mount a volume
# on /data to keep it across containers).
WORKDIR /data
EXPOSE 8080 9180
ENTRYPOINT ["/app"]
# Flags, not `<APP>_*` variables: they do not depend on the application's name. A command given
# at `docker run` replaces them.
CMD ["serve", "--listen", "0.0.0.0:8080", "--internal-listen", "0.0.0.0:9180"]
