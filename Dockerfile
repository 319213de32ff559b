# The shop image: one statically linked binary in an empty root, nothing pulled.
#
# The build context holds only the binary, named `shop`, built by `scripts/build-static.sh`:
#   RUSTFLAGS='-C target-feature=+crt-static' \
#     cargo build --release --target x86_64-unknown-linux-gnu -p shop
# `cleave-compare` (tests/compare) builds this image through the engine's API whenever that
# binary changed; by hand:
#   mkdir -p /tmp/ctx && cp target/x86_64-unknown-linux-gnu/release/shop /tmp/ctx/ &&
#   docker build -t ghcr.io/cleave-rs/shop:0.1.0 -f Dockerfile /tmp/ctx
FROM scratch
ARG BUILD_ID=manual
LABEL org.opencontainers.image.title="cleave shop" \
      org.opencontainers.image.source="https://github.com/cleave-rs/cleave" \
      dev.cleave.build="${BUILD_ID}"
COPY shop /shop
# WORKDIR creates the directory: the SQLite database lives here unless SHOP_DATABASE says
# otherwise (mount a volume on /data to keep it across containers).
WORKDIR /data
ENV SHOP_LISTEN=0.0.0.0:8080 \
    SHOP_INTERNAL_LISTEN=0.0.0.0:9180 \
    SHOP_DATABASE=sqlite:///data/shop.db?mode=rwc
EXPOSE 8080 9180
ENTRYPOINT ["/shop"]
CMD ["serve"]
