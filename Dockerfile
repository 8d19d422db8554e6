# The SEMail SMTP daemons: `docker run IMAGE inbound|outbound|queue --config FILE`.
# Build stage: the TypeScript bundled into plain JavaScript (bin/bundle.ts, `npm run build`).
FROM node:26-slim AS build
WORKDIR /opt/semail
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY cli ./cli
COPY config ./config
COPY directory ./directory
COPY mailservers ./mailservers
COPY provisioning ./provisioning
COPY components ./components
RUN npm run build

# The bundle holds every library the daemons use, so the image needs no node_modules.
FROM node:26-slim
WORKDIR /opt/semail
COPY --from=build /opt/semail/dist ./dist
# Node flags measured by bench/inbound, which starts the daemon with this very line: a
# small young generation and one V8 worker thread (-13 MB RSS idle, -30 MB under load),
# and no Maglev, V8's middle compiler tier (-3 MB idle). (--no-maglev is refused in
# NODE_OPTIONS, hence the command line.)
ENTRYPOINT ["node", "--max-semi-space-size=1", "--v8-pool-size=1", "--no-maglev", "dist/semail.mjs"]
CMD ["inbound"]
