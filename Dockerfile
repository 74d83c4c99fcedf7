# syntax=docker/dockerfile:1
# One image for the whole mesh, built from the repository root so the contracts
# (proto/ and the generated libs/proto) exist exactly once. The service is chosen by the
# command, e.g. `docker run recsys-mesh:dev services/ranker/dist/main.js`.
#
#   docker build -t recsys-mesh:dev .
#   docker run --rm -p 50051:50051 recsys-mesh:dev services/gateway/dist/main.js
#
# test/integration/dockerfile.test.ts replays the runtime stage's COPY/RUN/CMD lines in a
# clean folder and checks the service reaches SERVING, so keep them plain (no globs, no
# shell tricks): that test reads this file.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: full install (dev deps for tsc) and the TypeScript build ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# onnxruntime-node's install script would download CUDA libraries; the CPU build ships in the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY libs ./libs
COPY services ./services
COPY deploy/local ./deploy/local
COPY cli ./cli
# cli/ also holds the bench's entries, so the bench workspace's sources build with it (not shipped).
COPY bench ./bench
# Only what the image ships (the root tsconfig also builds bench/, which is not copied):
# the four services and the commands (the materialize Job runs cli/dist/materialize.js).
RUN npm ci --no-audit --no-fund && npx tsc -b services/candidate-generator services/feature-store services/ranker services/gateway cli

# ---- runtime: production dependencies and compiled JavaScript only ----
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production
ENV ONNXRUNTIME_NODE_INSTALL=skip
# Workspace manifests first, so the dependency layer is cached until a package.json changes.
COPY package.json package-lock.json ./
COPY libs/proto/package.json ./libs/proto/
COPY libs/core/package.json ./libs/core/
COPY libs/grpc-kit/package.json ./libs/grpc-kit/
COPY libs/offline/package.json ./libs/offline/
COPY services/candidate-generator/package.json ./services/candidate-generator/
COPY services/feature-store/package.json ./services/feature-store/
COPY services/ranker/package.json ./services/ranker/
COPY services/gateway/package.json ./services/gateway/
COPY deploy/local/package.json ./deploy/local/
COPY cli/package.json ./cli/
COPY bench/package.json ./bench/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Compiled code from the build stage; the descriptor set is what server reflection serves.
COPY --from=build /src/libs/proto/dist ./libs/proto/dist
COPY --from=build /src/libs/proto/descriptors ./libs/proto/descriptors
COPY --from=build /src/libs/core/dist ./libs/core/dist
COPY --from=build /src/libs/grpc-kit/dist ./libs/grpc-kit/dist
COPY --from=build /src/services/candidate-generator/dist ./services/candidate-generator/dist
COPY --from=build /src/services/feature-store/dist ./services/feature-store/dist
COPY --from=build /src/services/ranker/dist ./services/ranker/dist
COPY --from=build /src/services/gateway/dist ./services/gateway/dist
# The console's and /docs' static files, served by the gateway's HTTP port.
COPY --from=build /src/services/gateway/web ./services/gateway/web
# Of the commands only materialize (the Kubernetes Job): the others need the offline
# libraries and the local launcher, which the image does not ship.
COPY --from=build /src/cli/dist/materialize.js ./cli/dist/materialize.js
# The image's own "node" user (uid 1000); the Kubernetes manifests run as this uid too.
USER 1000:1000
EXPOSE 50051 50052 50053 50054 8080 9091 9092 9093 9094
# The services' V8 flags (SERVICE_NODE_FLAGS in deploy/local/src/processes.ts says why);
# in the ENTRYPOINT, so that the Kubernetes manifests' args (replacing CMD) keep them.
ENTRYPOINT ["node", "--initial-old-space-size=64"]
CMD ["services/gateway/dist/main.js"]
