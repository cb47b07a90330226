# sysrq-bridge in a container (docs/container.md). Serial devices come in with --device, e.g.
#   docker run --rm -p 127.0.0.1:8420:8420 \
#     --device /dev/serial/by-id/usb-FTDI_...:/dev/ttyUSB0 --group-add dialout \
#     -v "$PWD/config:/etc/sysrq-bridge:ro" -v sysrq-capture:/var/lib/sysrq-bridge sysrq-bridge
# The config inside should listen on 0.0.0.0 for -p to reach it (which needs auth.tokens: see
# docs/security.md) and use captureDir /var/lib/sysrq-bridge.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/build.ts scripts/route-schemas.ts ./scripts/
# serialport's native binding ships prebuilt for linux-x64/arm64; node-pty (exec ports with pty: true)
# compiles at install, so this stage alone gets a compiler: the runtime stage copies the built module.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The web console's page (its xterm assets come from node_modules).
COPY web ./web
# The example config, its captureDir where the image's user may write (a mounted config replaces it).
COPY config/example.yaml /etc/sysrq-bridge/config.yaml
RUN sed -i 's|^captureDir: .*|captureDir: /var/lib/sysrq-bridge|' /etc/sysrq-bridge/config.yaml
# Non-root; membership of dialout (gid 20 on Debian) opens /dev/tty* devices passed with --device.
RUN mkdir -p /var/lib/sysrq-bridge && chown node:node /var/lib/sysrq-bridge && usermod -aG dialout node
USER node
EXPOSE 8420
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/main.js"]
CMD ["--config", "/etc/sysrq-bridge/config.yaml"]
