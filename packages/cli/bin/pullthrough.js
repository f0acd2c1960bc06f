#!/usr/bin/env node
// The `pullthrough` bin. npm links bins when it installs, before anything is built, and skips a
// bin whose file is missing: this launcher exists from the checkout on and runs the built CLI.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const main = join(__dirname, '..', 'dist', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('pullthrough is not built yet: run `npx turbo run build` (scripts/start does) in the checkout\n');
  process.exit(2);
}
require(main);
