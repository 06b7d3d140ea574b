// The gateway passes a batch's strings packed into one `text`, and each field as a span of
// it: a byte offset and length into its UTF-8 encoding. JS strings index UTF-16 code units,
// so a span is a string index only while everything before it is ASCII.

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * A function turning spans of `text` into strings.
 * @param {string} text
 * @returns {(span: {offset: number, len: number}) => string}
 */
export function spanReader(text) {
  if (!NON_ASCII.test(text)) {
    // One byte per character: the common case, and a plain substring.
    return ({ offset, len }) => text.slice(offset, offset + len);
  }
  const bytes = new TextEncoder().encode(text);
  const decoder = new TextDecoder();
  return ({ offset, len }) => decoder.decode(bytes.subarray(offset, offset + len));
}
