#!/usr/bin/env node
// Entry point of the zhifu command: runs the TypeScript sources through tsx (there is no build step).
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
