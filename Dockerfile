# syntax=docker/dockerfile:1
# liveupdate-operator image: one image for the operator (Deployment, non-root) and the agent (DaemonSet; its pod
# spec runs it as root with the capabilities the host layer needs). The entrypoint is the `liveupdate` CLI, so a pod
# picks its role with `args: ["operator", ...]` or `args: ["agent", ...]`.
#
# Layout (the same as the daemonless build in scripts/image/build.sh):
#   /app/package.json            found by src/util/package-root.ts, which anchors every path below
#   /app/dist/                   `npm run build` (tsc), entrypoint dist/src/cli/main.js
#   /app/node_modules/           production dependencies only
#   /app/native/build/luo-helper the LUO helper (native/luo-helper.c), holder of /dev/liveupdate for the agent
#   /app/crds/, /app/src/host/sim/topologies/  data files the CLI reads at run time
#   kexec (Debian kexec-tools)   the agent loads the next kernel with `kexec -l -s` and runs it with `kexec -e`
#
# Build: docker build -t liveupdate-operator:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
# Pin NODE_IMAGE by digest in your CI (node:24.21.0-bookworm-slim@sha256:...) for reproducible builds.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency's preinstall would download a second Node 24 (this image is one already)
# and @swc/core's only serves ts-node; tsc needs neither.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
COPY scripts/build-native.sh ./scripts/
COPY native/luo-helper.c ./native/
RUN bash scripts/build-native.sh

# Production dependencies in their own stage, so a source change does not reinstall them and no devDependency
# (typescript, eslint, swc, the `node` binary package) reaches the runtime image.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="liveupdate-operator" \
      org.opencontainers.image.description="Kubernetes operator and node agent that roll Linux kernel live updates (LUO + KHO) across VFIO passthrough hosts" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kexec-tools \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 liveupdate \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin liveupdate
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/dist ./dist
COPY --from=build /app/native/build/luo-helper ./native/build/luo-helper
COPY crds ./crds
COPY src/host/sim/topologies ./src/host/sim/topologies
# Numeric, so `runAsNonRoot: true` can verify it; the agent's pod spec overrides it with runAsUser: 0.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/node", "/app/dist/src/cli/main.js"]
CMD ["--help"]
