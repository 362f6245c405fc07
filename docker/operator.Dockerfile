# syntax=docker/dockerfile:1
# The avec operator: placement, webhook, tickets. Pure TypeScript, no native code.
# Build from the repository root: docker build -f docker/operator.Dockerfile .
FROM node:20.19-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json ./
# packages/common (logger, errors), packages/api (the API contract), packages/kube (client-node helpers)
# and packages/tickets (session-ticket codec): workspaces the operator depends on.
COPY packages/common/package.json packages/common/
COPY packages/api/package.json packages/api/
COPY packages/kube/package.json packages/kube/
COPY packages/tickets/package.json packages/tickets/
COPY operator/package.json operator/
RUN npm ci --no-audit --no-fund --workspace packages/common --workspace packages/api --workspace packages/kube --workspace packages/tickets --workspace operator --include-workspace-root
COPY packages/common/ packages/common/
COPY packages/api/ packages/api/
COPY packages/kube/ packages/kube/
COPY packages/tickets/ packages/tickets/
COPY operator/ operator/
RUN npx tsc -b packages/common packages/api packages/kube packages/tickets operator \
 && npm prune --omit=dev --no-audit --no-fund --workspace packages/common --workspace packages/api --workspace packages/kube --workspace packages/tickets --workspace operator --include-workspace-root

FROM node:20.19-bookworm-slim
LABEL org.opencontainers.image.title="avec-operator"
ENV NODE_ENV=production
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
COPY --from=build /src/operator/package.json operator/
COPY --from=build /src/operator/dist/ operator/dist/
USER 65532:65532
EXPOSE 9443 8080 8081
ENTRYPOINT ["node", "/app/operator/dist/main.js"]
