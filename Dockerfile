# The engine image used by docker-compose.yml: the CLI with the bundled data and job files.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY engine ./engine
COPY test ./test
COPY benchmarks ./benchmarks
COPY jobs ./jobs
COPY schemas ./schemas
COPY data/bundled ./data/bundled
# `npm ci` compiles the TypeScript through the package's prepare script.
RUN npm ci --no-audit --no-fund
ENTRYPOINT ["node", "bin/tideflow.js"]
CMD ["--help"]
