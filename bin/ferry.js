#!/usr/bin/env node
// Entry point of the `ferry` command: loads the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../relay/cli/main.ts');
const code = await main(process.argv.slice(2));
if (process.argv[2] !== 'serve' || code !== 0) process.exit(code);
