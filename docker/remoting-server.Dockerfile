# syntax=docker/dockerfile:1
# The remoting server DaemonSet image: TypeScript server + native addon + per-session executor.
# The executor loads the node's real libcuda.so.1, which the NVIDIA container runtime mounts in;
# without it (`--backend auto`) the emulated device serves sessions.
# Build from the repository root: docker build -f docker/remoting-server.Dockerfile .
FROM node:20.19-bookworm-slim AS node

FROM nvidia/cuda:13.0.0-devel-ubuntu24.04 AS build
ENV CUDA_HOME=/usr/local/cuda
RUN apt-get update \
 && apt-get install -y --no-install-recommends make=4.3-4.1build2 g++=4:13.2.0-7ubuntu1 python3=3.12.3-0ubuntu2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/
COPY --from=node /usr/local/lib/node_modules/ /usr/local/lib/node_modules/
# node-gyp is pointed at /usr for the headers (mk/remoting-server.mk).
COPY --from=node /usr/local/include/node/ /usr/include/node/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json Makefile ./
COPY mk/ mk/
# packages/common (logger, errors), packages/api (the API contract), packages/kube (client-node helpers)
# and packages/tickets (session-ticket codec): workspaces the server depends on.
COPY packages/common/package.json packages/common/
COPY packages/api/package.json packages/api/
COPY packages/kube/package.json packages/kube/
COPY packages/tickets/package.json packages/tickets/
COPY remoting-server/package.json remoting-server/
RUN npm ci --no-audit --no-fund --workspace packages/common --workspace packages/api --workspace packages/kube --workspace packages/tickets --workspace remoting-server --include-workspace-root --ignore-scripts
COPY packages/common/ packages/common/
COPY packages/api/ packages/api/
COPY packages/kube/ packages/kube/
COPY packages/tickets/ packages/tickets/
COPY remoting-server/ remoting-server/
COPY shim/ shim/
COPY wire/ wire/
RUN make native build-remoting-server-addon CUDA_HOME=/usr/local/cuda \
 && npx tsc -b packages/common packages/api packages/kube packages/tickets remoting-server \
 && npm prune --omit=dev --no-audit --no-fund --workspace packages/common --workspace packages/api --workspace packages/kube --workspace packages/tickets --workspace remoting-server --include-workspace-root --ignore-scripts

FROM nvidia/cuda:13.0.0-base-ubuntu24.04
LABEL org.opencontainers.image.title="avec-remoting-server"
ENV NODE_ENV=production
COPY --from=node /usr/local/bin/node /usr/local/bin/
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
# node_modules/@avec/* link to packages/*.
COPY --from=build /src/packages/common/package.json packages/common/
COPY --from=build /src/packages/common/dist/ packages/common/dist/
COPY --from=build /src/packages/api/package.json packages/api/
COPY --from=build /src/packages/api/dist/ packages/api/dist/
COPY --from=build /src/packages/kube/package.json packages/kube/
COPY --from=build /src/packages/kube/dist/ packages/kube/dist/
COPY --from=build /src/packages/tickets/package.json packages/tickets/
COPY --from=build /src/packages/tickets/dist/ packages/tickets/dist/
COPY --from=build /src/remoting-server/package.json remoting-server/
COPY --from=build /src/remoting-server/dist/ remoting-server/dist/
COPY --from=build /src/remoting-server/proto/ remoting-server/proto/
COPY --from=build /src/build/native/avec-executor /opt/avec/bin/
COPY --from=build /src/build/addon/avec_addon.node /opt/avec/lib/
ENV AVEC_ADDON=/opt/avec/lib/avec_addon.node
USER 65532:65532
EXPOSE 7400 7401 7402
ENTRYPOINT ["node", "/app/remoting-server/dist/main.js"]
