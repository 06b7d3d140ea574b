//! `JSON.stringify`: the exact bytes JavaScript writes for a value.

use super::value::{JsObject, JsString, JsValue};

impl JsValue {
    /// Appends the value as `JSON.stringify` writes it: no whitespace, numbers in ECMAScript's
    /// Number-to-string format (non-finite ones as `null`, `-0` as `0`), strings escaped as JS
    /// escapes them.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            JsValue::Null => out.extend_from_slice(b"null"),
            JsValue::Bool(true) => out.extend_from_slice(b"true"),
            JsValue::Bool(false) => out.extend_from_slice(b"false"),
            JsValue::Number(n) => write_number(*n, out),
            JsValue::String(s) => s.write_json(out),
            JsValue::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_json(out);
                }
                out.push(b']');
            }
            JsValue::Object(object) => object.write_json(out),
        }
    }

    /// The value as `JSON.stringify` writes it.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.write_json(&mut out);
        out
    }
}

impl JsObject {
    /// Appends the object as `JSON.stringify` writes it, properties in JS order.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, value)) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            key.write_json(out);
            out.push(b':');
            value.write_json(out);
        }
        out.push(b'}');
    }
}

impl JsString {
    /// Appends the string quoted and escaped as `JSON.stringify` does: `"` and `\`, control
    /// characters (short forms where JS has them, else `\u00xx`) and lone surrogates (`\udxxx`)
    /// are escaped; everything else, U+2028 and DEL included, is written as UTF-8.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        match self {
            JsString::Utf8(s) => write_escaped(s.as_bytes(), out),
            JsString::Utf16(units) => {
                for c in char::decode_utf16(units.iter().copied()) {
                    match c {
                        Ok(c) => write_escaped(c.encode_utf8(&mut [0; 4]).as_bytes(), out),
                        Err(lone) => write_unicode_escape(lone.unpaired_surrogate(), out),
                    }
                }
            }
        }
        out.push(b'"');
    }
}

fn write_number(n: f64, out: &mut Vec<u8>) {
    // Counts and timestamps are the common case; below 2^53 the shortest round-trip form of an
    // integer is its plain digits, which is what ECMAScript writes (`-0` → `0` included). The
    // cast saturates and maps NaN to 0, which the comparison then rules out.
    let integer = n as i64;
    if integer as f64 == n && integer.unsigned_abs() < MAX_EXACT_INTEGER {
        write_integer(integer, out);
    } else if n.is_finite() {
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(n).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// 2^53: every integer below it is exactly representable and so needs all its digits.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

fn write_integer(n: i64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[start..]);
}

/// Copies UTF-8 text, escaping the ASCII bytes JSON needs escaped, run by run.
fn write_escaped(mut bytes: &[u8], out: &mut Vec<u8>) {
    loop {
        let run = plain_len(bytes);
        out.extend_from_slice(&bytes[..run]);
        let Some((&special, rest)) = bytes[run..].split_first() else {
            return;
        };
        match special {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            control => write_unicode_escape(control.into(), out),
        }
        bytes = rest;
    }
}

/// `\uxxxx` with lowercase hex, as JS writes it.
fn write_unicode_escape(unit: u16, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[usize::from((unit >> shift) & 0xf)]);
    }
}

/// Whether a byte ends a plain run of string content: `"`, `\` or a control character. These
/// are the bytes the writer must escape and the bytes the parser must stop at.
fn is_special(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// The length of the longest prefix with no special byte (see [`is_special`]), eight bytes at
/// a time: payloads are mostly long plain strings.
pub(super) fn plain_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Bit 7 of each byte that is below `n`. A false positive can only appear above a true
    // one, so the lowest flagged byte is exact.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    for (i, chunk) in chunks.enumerate() {
        let x = u64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
        let flags = below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1);
        if flags != 0 {
            return i * 8 + (flags.trailing_zeros() / 8) as usize;
        }
    }
    let done = bytes.len() - tail.len();
    done + tail.iter().take_while(|&&b| !is_special(b)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: impl Into<JsValue>) -> String {
        String::from_utf8(value.into().to_json_bytes()).unwrap()
    }

    #[test]
    fn numbers_as_ecmascript_writes_them() {
        let cases = [
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1.0, "1"),
            (0.1, "0.1"),
            (5e-324, "5e-324"),
            (-0.0, "0"),
            (f64::INFINITY, "null"),
            (f64::NEG_INFINITY, "null"),
            (f64::NAN, "null"),
            (9007199254740993.0, "9007199254740992"),
            (123456789012345678901234567890.0, "1.2345678901234568e+29"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (-1.5e-10, "-1.5e-10"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123.456, "123.456"),
            (-42.0, "-42"),
            (9007199254740991.0, "9007199254740991"),
            (-9007199254740991.0, "-9007199254740991"),
            (9007199254740992.0, "9007199254740992"),
            (2f64.powi(60), "1152921504606847000"),
            (1712345678901.0, "1712345678901"),
        ];
        for (n, text) in cases {
            assert_eq!(json(n), text, "{n:e}");
        }
    }

    #[test]
    fn strings_escaped_as_js_escapes_them() {
        assert_eq!(json("plain é 😀"), "\"plain é 😀\"");
        assert_eq!(json("\"\\/"), r#""\"\\/""#);
        assert_eq!(json("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(
            json("\u{0}\u{1}\u{1f}\u{b}"),
            r#""\u0000\u0001\u001f\u000b""#
        );
        assert_eq!(
            json("\u{7f}\u{2028}\u{2029}\u{fffe}"),
            "\"\u{7f}\u{2028}\u{2029}\u{fffe}\""
        );
        let lone = JsString::Utf16(vec![0xdabc, 0x41, 0xd83d, 0xde00, 0xa, 0xdc00]);
        assert_eq!(json(lone), r#""\udabcA😀\n\udc00""#);
    }

    #[test]
    fn containers() {
        let mut object = JsObject::new();
        object.insert(
            "b".into(),
            vec![JsValue::Null, true.into(), 2.5.into()].into(),
        );
        object.insert("3".into(), JsObject::new().into());
        object.insert("a\"".into(), JsValue::Array(Vec::new()));
        assert_eq!(json(object), r#"{"3":{},"b":[null,true,2.5],"a\"":[]}"#);
    }

    #[test]
    fn plain_len_matches_a_byte_scan() {
        let alphabet = [
            b'a',
            b'"',
            b'\\',
            0x00,
            0x1f,
            0x20,
            0x21,
            0x7f,
            0x80,
            0xff,
            0x5b,
            0x22 ^ 0x80,
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    let pick = (seed >> (i % 8 * 8)) as usize;
                    if pick.is_multiple_of(5) {
                        alphabet[pick / 5 % alphabet.len()]
                    } else {
                        b'x'
                    }
                })
                .collect();
            let expected = bytes.iter().take_while(|&&b| !is_special(b)).count();
            assert_eq!(plain_len(&bytes), expected, "{bytes:?}");
        }
    }
}
