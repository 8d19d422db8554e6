# The SEMail SMTP daemons: `docker run IMAGE inbound|outbound --config FILE`.
FROM node:26-slim
WORKDIR /opt/semail
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY cli ./cli
COPY config ./config
COPY directory ./directory
COPY mailservers ./mailservers
# A small young generation and one V8 worker: -13 MB RSS idle, -30 MB under load, no
# measurable throughput loss (bench/inbound).
ENV NODE_OPTIONS="--max-semi-space-size=1 --v8-pool-size=1"
ENTRYPOINT ["node", "bin/semail.mjs"]
CMD ["inbound"]
