// The TypeScript types are generated from the WIT: regenerating them must change nothing.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const sdk = fileURLToPath(new URL('..', import.meta.url));

function bin(name) {
  for (let dir = sdk; dirname(dir) !== dir; dir = dirname(dir)) {
    const path = join(dir, 'node_modules', '.bin', name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} is not installed (npm install in guest-filters/)`);
}

test('types/world.d.ts is what jco generates from the WIT now', () => {
  const out = mkdtempSync(join(tmpdir(), 'world-types-'));
  try {
    execFileSync(bin('jco'), ['guest-types', '../wit', '--name', 'world', '-o', out, '-q'], {
      cwd: sdk,
    });
    const fresh = readFileSync(join(out, 'world.d.ts'), 'utf8');
    const checkedIn = readFileSync(join(sdk, 'types', 'world.d.ts'), 'utf8');
    assert.equal(checkedIn, fresh, 'run `npm run types` in guest-filters/sdk-js');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
