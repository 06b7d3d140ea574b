import assert from 'node:assert/strict';
import { test } from 'node:test';

import { spanReader } from '../src/text.js';

/** Packs strings as the gateway does: one text, a span of UTF-8 bytes for each. */
function pack(strings) {
  let text = '';
  let offset = 0;
  const spans = strings.map((s) => {
    const len = Buffer.byteLength(s, 'utf8');
    const span = { offset, len };
    text += s;
    offset += len;
    return span;
  });
  return { text, spans };
}

test('spans of ASCII text are substrings', () => {
  const { text, spans } = pack(['app-1', 'billing', 'private-chat']);
  const read = spanReader(text);
  assert.deepEqual(spans.map(read), ['app-1', 'billing', 'private-chat']);
});

test('spans after non-ASCII text count UTF-8 bytes, not UTF-16 units', () => {
  // 2-, 3- and 4-byte characters (the last a surrogate pair in JS) before and inside spans.
  const strings = ['présence-é', '会議室', 'emoji-😀-room', '', 'after'];
  const { text, spans } = pack(strings);
  assert.deepEqual(spans.map(spanReader(text)), strings);
});
