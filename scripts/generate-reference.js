#!/usr/bin/env node
'use strict';
// `npm run docs:reference`: writes docs/reference.md (the job-file reference) and
// schemas/job.schema.json (the job-file JSON Schema for editors) from the component
// registry, as engine/jobfile/reference.ts renders them. Compiles nothing: the npm
// script runs tsc first. test/reference-docs.test.ts fails while either is stale.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const generator = path.join(root, 'dist', 'engine', 'jobfile', 'reference.js');
if (!fs.existsSync(generator)) {
  process.stderr.write('generate-reference: dist/ is not built; run `npm run docs:reference` (it compiles first) or `npm run build`.\n');
  process.exit(2);
}

const { referenceFiles } = require(generator);
for (const [file, text] of Object.entries(referenceFiles())) {
  const target = path.join(root, file);
  const before = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : undefined;
  if (before === text) {
    process.stdout.write(`${file}: unchanged\n`);
    continue;
  }
  fs.writeFileSync(target, text);
  process.stdout.write(`${file}: written\n`);
}
