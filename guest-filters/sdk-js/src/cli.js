#!/usr/bin/env node
// `switchyard-filter build ENTRY OUT [--define NAME=TEXT]...`: bundles the filter module
// ENTRY (.js or .ts) with this SDK into one ES module (esbuild; each `--define` makes the
// global NAME the string TEXT), then makes it a component of the filter world
// (componentize-js). Both tools are the project's own, pinned in its
// package.json, so a build is reproducible; they are looked up from the current directory.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const USAGE = 'usage: switchyard-filter build ENTRY OUT [--define NAME=TEXT]...';
const WIT = fileURLToPath(new URL('../../wit/filter.wit', import.meta.url));
const COMPONENT = fileURLToPath(new URL('./component.js', import.meta.url));
/** The functions the world imports: the host provides them, the bundle must not. */
const HOST_IMPORTS = ['log', 'event-data', 'event-json'];
/** WASI the gateway does not grant: a component that imports it would be refused. */
const NOT_GRANTED = ['http', 'fetch-event'];

function fail(message) {
  console.error(`switchyard-filter: ${message}`);
  process.exit(2);
}

/** Imports package `name` from the nearest node_modules at or above `from`. */
async function importFrom(from, name) {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(manifest)) {
      const { exports, main } = JSON.parse(readFileSync(manifest, 'utf8'));
      const entry = exports?.['.']?.import ?? exports?.import ?? exports?.['.']?.default ?? main;
      return import(pathToFileURL(join(dirname(manifest), entry)).href);
    }
    if (dirname(dir) === dir) {
      fail(`cannot find ${name}: add it to your package.json's devDependencies and run npm install`);
    }
  }
}

function parseArgs(args) {
  const [command, entry, out, ...rest] = args;
  if (command !== 'build' || !entry || !out) fail(USAGE);
  const define = {};
  for (let i = 0; i < rest.length; i += 2) {
    const [name, value] = rest[i + 1]?.split(/=(.*)/s) ?? [];
    if (rest[i] !== '--define' || !name || value === undefined) fail(USAGE);
    define[name] = JSON.stringify(value);
  }
  return { entry: resolve(entry), out: resolve(out), define };
}

async function build({ entry, out, define }) {
  if (!existsSync(entry)) fail(`no filter module at ${entry}`);
  const esbuild = await importFrom(process.cwd(), 'esbuild');
  const { componentize } = await importFrom(process.cwd(), '@bytecodealliance/componentize-js');
  // The component's module: the SDK's world exports around the author's default export.
  const glue = [
    `import filter from ${JSON.stringify(entry)};`,
    `import { bind } from ${JSON.stringify(COMPONENT)};`,
    'export const { init, decide } = bind(filter);',
  ].join('\n');
  const bundled = await esbuild.build({
    stdin: { contents: glue, resolveDir: process.cwd(), sourcefile: 'component.js' },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    external: HOST_IMPORTS,
    define,
    write: false,
    logLevel: 'error',
  });
  const work = mkdtempSync(join(tmpdir(), 'switchyard-filter-'));
  try {
    const source = join(work, 'filter.js');
    writeFileSync(source, bundled.outputFiles[0].contents);
    const { component } = await componentize({
      sourcePath: source,
      witPath: WIT,
      worldName: 'filter',
      disableFeatures: NOT_GRANTED,
    });
    writeFileSync(out, component);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.error(`built ${out}`);
}

await build(parseArgs(process.argv.slice(2)));
