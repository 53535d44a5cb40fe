#!/usr/bin/env node
// The CLI is bundled by `npm run prepare` (run by `npm ci`); see scripts/build-cli.mjs.
require('../dist/cli.cjs');
