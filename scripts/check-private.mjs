#!/usr/bin/env node
// Lint rule biome has no equivalent for: class members are private through ES `#name`, not the
// TypeScript `private` keyword (which vanishes at runtime). `private constructor` stays allowed:
// ES has no private constructors. Prints each offending line and exits 1 if there is one.
//
// PENDING lists packages not converted yet; remove a package from it once converted.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const PENDING = new Set([]);
const root = new URL('..', import.meta.url).pathname;
const member =
  /^\s+(?:(?:public|protected|static|readonly|override|async|get|set|abstract)\s+)*private\s+(?!constructor\b)/;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (name.endsWith('.ts')) yield path;
  }
}

let found = 0;
for (const pkg of readdirSync(join(root, 'packages'))) {
  if (PENDING.has(pkg)) continue;
  const src = join(root, 'packages', pkg, 'src');
  try {
    statSync(src);
  } catch {
    continue;
  }
  for (const file of files(src)) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (member.test(line)) {
          found++;
          console.error(`${relative(root, file)}:${i + 1}: use #name instead of the private keyword: ${line.trim()}`);
        }
      });
  }
}
if (found > 0) process.exit(1);
