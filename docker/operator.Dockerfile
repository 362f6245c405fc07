# syntax=docker/dockerfile:1
# The avec operator: placement, webhook, tickets. Pure TypeScript, no native code.
# Build from the repository root: docker build -f docker/operator.Dockerfile .
FROM node:20.19-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json ./
# packages/kube and packages/tickets: the shared Kubernetes client (@avec/kube) and session-ticket
# codec (@avec/tickets), workspaces the operator depends on.
COPY packages/kube/package.json packages/kube/
COPY packages/tickets/package.json packages/tickets/
COPY operator/package.json operator/
RUN npm ci --no-audit --no-fund --workspace packages/kube --workspace packages/tickets --workspace operator --include-workspace-root
COPY packages/kube/ packages/kube/
COPY packages/tickets/ packages/tickets/
COPY operator/ operator/
RUN npx tsc -b packages/kube packages/tickets operator \
 && npm prune --omit=dev --no-audit --no-fund --workspace packages/kube --workspace packages/tickets --workspace operator --include-workspace-root

FROM node:20.19-bookworm-slim
LABEL org.opencontainers.image.title="avec-operator"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
# node_modules/@avec/kube and @avec/tickets link to packages/kube and packages/tickets.
COPY --from=build /src/packages/kube/package.json packages/kube/
COPY --from=build /src/packages/kube/dist/ packages/kube/dist/
COPY --from=build /src/packages/tickets/package.json packages/tickets/
COPY --from=build /src/packages/tickets/dist/ packages/tickets/dist/
COPY --from=build /src/operator/package.json operator/
COPY --from=build /src/operator/dist/ operator/dist/
USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["node", "/app/operator/dist/main.js"]
