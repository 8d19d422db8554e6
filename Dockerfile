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
ENTRYPOINT ["node", "bin/semail.mjs"]
CMD ["inbound"]
