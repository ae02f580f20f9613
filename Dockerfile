# DHT2 Gateway image: one image for every process of a cluster (bricks and gateway).
#
#   docker build -t dht2-gateway:local .
#   docker run --rm dht2-gateway:local --help
#
# BASE_IMAGE defaults to the official Node 20 slim image. Where no image registry is
# reachable, scripts/docker-base-image.sh builds a stand-in from Debian packages
# (debootstrap) and the machine's Node.js: --build-arg BASE_IMAGE=dht2-local/node:20-bookworm-slim.
ARG BASE_IMAGE=node:20-bookworm-slim

# --- production dependencies: better-sqlite3 compiles its native addon here -------------------
FROM ${BASE_IMAGE} AS deps
LABEL org.dht2.stage=deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# better-sqlite3's install script is approved in package.json "allowScripts".
RUN npm ci --omit=dev --no-audit --no-fund --update-notifier=false \
 && rm -rf /root/.npm

# --- build: TypeScript -> dist/ (type-checking only needs the packages, not native addons) ----
FROM ${BASE_IMAGE} AS build
LABEL org.dht2.stage=build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --update-notifier=false
COPY tsconfig.json ./
COPY bin ./bin
COPY brick ./brick
COPY dht2-core ./dht2-core
COPY server ./server
COPY test ./test
COPY bench ./bench
# dist/test is not shipped; the rest of dist/ is (bin/dht2.js imports bench/ as well).
RUN npm run build \
 && rm -rf dist/test

# --- runtime: node, production node_modules, the compiled code; no compilers, not root ------
FROM ${BASE_IMAGE} AS runtime
LABEL org.dht2.stage=runtime
ENV NODE_ENV=production
WORKDIR /app
RUN groupadd --gid 10001 dht2 \
 && useradd --uid 10001 --gid dht2 --home-dir /app --no-create-home --shell /usr/sbin/nologin dht2 \
 && mkdir -p /data \
 && chown dht2:dht2 /data
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json openapi.yaml ./
COPY scripts/healthcheck.cjs ./scripts/healthcheck.cjs
USER dht2
# Fail the build, not the first container, when the CLI cannot load (a module missing from the image).
RUN node dist/bin/dht2.js --help >/dev/null \
 && node -e "new (require('better-sqlite3'))(':memory:').close()"
# A brick's data lives here (`dht2 brick --dir /data`); docker-compose.yml mounts one named volume per brick.
VOLUME ["/data"]
EXPOSE 9000
# --initial-old-space-size=128: what brick/spawn.ts gives every brick (NODE_HEAP_FLAGS): without
# it bricks, and a gateway streaming large GETs, ran a full GC about twice per 64 MiB.
ENTRYPOINT ["node", "--initial-old-space-size=128", "dist/bin/dht2.js"]
CMD ["--help"]
