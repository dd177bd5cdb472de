#!/usr/bin/env node
"use strict";
// The compiled command line; `npm install` builds dist/ through the `prepare` script.
require("../dist/kernel/cli.js").main(process.argv.slice(2));
