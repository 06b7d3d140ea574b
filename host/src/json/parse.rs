//! `JSON.parse` for request bodies: the same accepted language as Node.js's, the same values.

use super::value::{JsString, JsValue, ObjectBuilder};
use super::write::plain_len;

/// How many arrays and objects may nest. The parser recurses once per level, and a cap keeps an
/// adversarial body from exhausting a worker's stack. (Node accepts deeper nesting; no webhook
/// payload comes near this.)
const MAX_DEPTH: usize = 512;

/// Why a body is not JSON that `JSON.parse` accepts. The message is short and names a byte
/// offset into the body: it is returned to HTTP clients as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 { offset: usize },
    #[error("byte order mark at byte 0 (JSON.parse does not accept one)")]
    ByteOrderMark,
    #[error("unexpected end of input at byte {offset}")]
    UnexpectedEnd { offset: usize },
    #[error("expected {expected}, found {found:?} at byte {offset}")]
    Unexpected {
        offset: usize,
        expected: &'static str,
        found: char,
    },
    #[error("invalid number at byte {offset}")]
    InvalidNumber { offset: usize },
    #[error("unterminated string starting at byte {offset}")]
    UnterminatedString { offset: usize },
    #[error("invalid escape at byte {offset}")]
    InvalidEscape { offset: usize },
    #[error("unescaped control character in string at byte {offset}")]
    ControlCharacter { offset: usize },
    #[error("unexpected data after the JSON value at byte {offset}")]
    TrailingData { offset: usize },
    #[error("nesting deeper than {MAX_DEPTH} levels at byte {offset}")]
    TooDeep { offset: usize },
}

impl JsonError {
    /// The byte offset in the body where the problem is.
    pub fn offset(&self) -> usize {
        match *self {
            JsonError::ByteOrderMark => 0,
            JsonError::InvalidUtf8 { offset }
            | JsonError::UnexpectedEnd { offset }
            | JsonError::Unexpected { offset, .. }
            | JsonError::InvalidNumber { offset }
            | JsonError::UnterminatedString { offset }
            | JsonError::InvalidEscape { offset }
            | JsonError::ControlCharacter { offset }
            | JsonError::TrailingData { offset }
            | JsonError::TooDeep { offset } => offset,
        }
    }
}

/// Parses a body as Node's `JSON.parse(buffer.toString('utf8'))` does, except that invalid
/// UTF-8 is refused (Node would silently substitute U+FFFD, and the signature would then cover
/// bytes nobody sent) and arrays and objects may nest at most 512 levels deep.
pub fn parse(bytes: &[u8]) -> Result<JsValue, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    if text.starts_with('\u{feff}') {
        return Err(JsonError::ByteOrderMark);
    }
    let mut parser = Parser { text, pos: 0 };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos < bytes.len() {
        return Err(JsonError::TrailingData { offset: parser.pos });
    }
    Ok(value)
}

/// A cursor over valid UTF-8. It only ever stops on ASCII bytes, so `pos` is a char boundary.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// The error for whatever stands at `pos` when something else was expected.
    fn unexpected(&self, expected: &'static str) -> JsonError {
        match self.text[self.pos..].chars().next() {
            Some(found) => JsonError::Unexpected {
                offset: self.pos,
                expected,
                found,
            },
            None => JsonError::UnexpectedEnd { offset: self.pos },
        }
    }

    /// A value starting at `pos` (whitespace already skipped), inside `depth` open containers.
    fn value(&mut self, depth: usize) -> Result<JsValue, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1).map(JsValue::Object),
            Some(b'[') => self.array(depth + 1).map(JsValue::Array),
            Some(b'"') => self.string().map(JsValue::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(JsValue::Number),
            Some(b't') => self.literal("true", JsValue::Bool(true)),
            Some(b'f') => self.literal("false", JsValue::Bool(false)),
            Some(b'n') => self.literal("null", JsValue::Null),
            _ => Err(self.unexpected("a JSON value")),
        }
    }

    fn literal(&mut self, word: &'static str, value: JsValue) -> Result<JsValue, JsonError> {
        let rest = &self.bytes()[self.pos..];
        if rest.starts_with(word.as_bytes()) {
            self.pos += word.len();
            return Ok(value);
        }
        // Point at the first byte that differs from the word.
        let matched = rest.iter().zip(word.as_bytes()).take_while(|(a, b)| a == b);
        self.pos += matched.count();
        Err(self.unexpected(word))
    }

    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep { offset: self.pos });
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Vec<JsValue>, JsonError> {
        self.enter(depth)?;
        self.pos += 1;
        self.skip_whitespace();
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => return Err(self.unexpected("',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<super::JsObject, JsonError> {
        self.enter(depth)?;
        self.pos += 1;
        self.skip_whitespace();
        let mut object = ObjectBuilder::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(object.finish());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("':'"));
            }
            self.pos += 1;
            self.skip_whitespace();
            object.insert(key, self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(object.finish());
                }
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
    }

    /// A number, with JSON's grammar checked here and the value rounded as JS rounds it.
    fn number(&mut self) -> Result<f64, JsonError> {
        let start = self.pos;
        let invalid = JsonError::InvalidNumber { offset: start };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return Err(invalid); // a leading zero
                }
            }
            Some(b'1'..=b'9') => {
                self.skip_digits();
            }
            _ => return Err(invalid),
        }
        let integer_end = self.pos;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.skip_digits() == 0 {
                return Err(invalid);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.skip_digits() == 0 {
                return Err(invalid);
            }
        }
        let literal = &self.text[start..self.pos];
        // Integers of up to 15 digits are exact in an f64: skip the general algorithm.
        if self.pos == integer_end && literal.len() <= 15 {
            let (negative, digits) = match literal.strip_prefix('-') {
                Some(digits) => (true, digits),
                None => (false, literal),
            };
            let n = digits
                .bytes()
                .fold(0u64, |n, b| n * 10 + u64::from(b - b'0')) as f64;
            return Ok(if negative { -n } else { n });
        }
        // Rust's float parsing is correctly rounded, as ECMAScript requires, and saturates to
        // infinity and zero; it accepts a superset of JSON's grammar, checked above.
        literal.parse().map_err(|_| invalid)
    }

    fn skip_digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A string starting at the opening quote at `pos`.
    fn string(&mut self) -> Result<JsString, JsonError> {
        let open = self.pos;
        let start = open + 1;
        let end = start + plain_len(&self.bytes()[start..]);
        if self.bytes().get(end) == Some(&b'"') {
            self.pos = end + 1;
            return Ok(JsString::Utf8(self.text[start..end].to_owned()));
        }
        self.pos = end;
        let mut out = Unescaped::Utf8(self.text[start..end].to_owned());
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out.finish());
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(_) => return Err(JsonError::ControlCharacter { offset: self.pos }),
                None => return Err(JsonError::UnterminatedString { offset: open }),
            }
            let run = plain_len(&self.bytes()[self.pos..]);
            out.push_str(&self.text[self.pos..self.pos + run]);
            self.pos += run;
        }
    }

    /// One escape sequence starting at the backslash at `pos`.
    fn escape(&mut self, out: &mut Unescaped) -> Result<(), JsonError> {
        let backslash = self.pos;
        let invalid = JsonError::InvalidEscape { offset: backslash };
        let Some(&kind) = self.bytes().get(backslash + 1) else {
            return Err(invalid);
        };
        self.pos += 2;
        let c = match kind {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4().ok_or(invalid)?;
                let low = match unit {
                    0xd800..=0xdbff => self.low_surrogate_escape(),
                    _ => None,
                };
                let code = match low {
                    Some(low) => 0x10000 + ((u32::from(unit) - 0xd800) << 10) + (low - 0xdc00),
                    None => unit.into(),
                };
                match char::from_u32(code) {
                    Some(c) => c,
                    None => {
                        out.push_lone_surrogate(unit);
                        return Ok(());
                    }
                }
            }
            _ => return Err(invalid),
        };
        out.push_char(c);
        Ok(())
    }

    /// Four hex digits at `pos`, consumed.
    fn hex4(&mut self) -> Option<u16> {
        let digits = self.bytes().get(self.pos..self.pos + 4)?;
        let mut unit = 0u16;
        for &d in digits {
            unit = unit << 4 | (char::from(d).to_digit(16)? as u16);
        }
        self.pos += 4;
        Some(unit)
    }

    /// A `\uDC00`..`\uDFFF` escape at `pos`, consumed only if it is there: it completes a pair.
    fn low_surrogate_escape(&mut self) -> Option<u32> {
        if !self.bytes()[self.pos..].starts_with(b"\\u") {
            return None;
        }
        let mark = self.pos;
        self.pos += 2;
        match self.hex4() {
            Some(low @ 0xdc00..=0xdfff) => Some(low.into()),
            _ => {
                self.pos = mark;
                None
            }
        }
    }
}

/// A string being unescaped: UTF-8 until a lone surrogate forces UTF-16.
enum Unescaped {
    Utf8(String),
    Utf16(Vec<u16>),
}

impl Unescaped {
    fn push_str(&mut self, s: &str) {
        match self {
            Unescaped::Utf8(out) => out.push_str(s),
            Unescaped::Utf16(out) => out.extend(s.encode_utf16()),
        }
    }

    fn push_char(&mut self, c: char) {
        match self {
            Unescaped::Utf8(out) => out.push(c),
            Unescaped::Utf16(out) => out.extend(c.encode_utf16(&mut [0; 2]).iter()),
        }
    }

    fn push_lone_surrogate(&mut self, unit: u16) {
        if let Unescaped::Utf8(s) = self {
            *self = Unescaped::Utf16(s.encode_utf16().collect());
        }
        if let Unescaped::Utf16(out) = self {
            out.push(unit);
        }
    }

    fn finish(self) -> JsString {
        match self {
            Unescaped::Utf8(s) => JsString::Utf8(s),
            Unescaped::Utf16(units) => JsString::Utf16(units),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `JSON.stringify(JSON.parse(text))`.
    fn round_trip(text: &str) -> String {
        let value = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        String::from_utf8(value.to_json_bytes()).expect("output is UTF-8")
    }

    fn number(text: &str) -> f64 {
        parse(text.as_bytes()).unwrap().as_f64().unwrap()
    }

    #[test]
    fn values_and_whitespace() {
        assert_eq!(
            round_trip(" \t\n\r[ null , true,false ,\"s\", {} , [ ] ] \r\n"),
            "[null,true,false,\"s\",{},[]]"
        );
        assert_eq!(
            round_trip("{ \"a\" : { \"b\" : [1, {\"c\": \"d\"}] } }"),
            r#"{"a":{"b":[1,{"c":"d"}]}}"#
        );
        assert_eq!(round_trip("\"\""), "\"\"");
        assert_eq!(round_trip("0"), "0");
    }

    #[test]
    fn numbers_round_as_js() {
        assert_eq!(number("9007199254740993"), 9007199254740992.0);
        assert_eq!(number("1e400"), f64::INFINITY);
        assert_eq!(number("-1e400"), f64::NEG_INFINITY);
        assert_eq!(number("1e-400"), 0.0);
        assert!(number("-0").is_sign_negative());
        assert!(number("-0.0e5").is_sign_negative());
        assert_eq!(number("5e-324"), 5e-324);
        assert_eq!(number("2.4703282292062328e-324"), 5e-324);
        assert_eq!(number("1E2"), 100.0);
        assert_eq!(number("1e+2"), 100.0);
        assert_eq!(number("-123456789012345"), -123456789012345.0);
        assert_eq!(number("1e99999999999999999999999"), f64::INFINITY);
        assert_eq!(number(&format!("0.{}1", "0".repeat(5000))), 0.0);
        assert_eq!(number(&format!("1{}", "0".repeat(400))), f64::INFINITY);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            parse(br#""\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u20AC""#)
                .unwrap()
                .as_str(),
            Some("\" \\ / \u{8} \u{c} \n \r \t A é €")
        );
        assert_eq!(parse(br#""\ud83d\ude00""#).unwrap().as_str(), Some("😀"));
        assert_eq!(
            parse("\"😀\u{2028}\"".as_bytes()).unwrap().as_str(),
            Some("😀\u{2028}")
        );
    }

    #[test]
    fn lone_surrogates_are_kept() {
        let string = |text: &str| match parse(text.as_bytes()).unwrap() {
            JsValue::String(s) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(string(r#""a\ud800""#), JsString::Utf16(vec![0x61, 0xd800]));
        assert_eq!(
            string(r#""\udc00\ud800""#),
            JsString::Utf16(vec![0xdc00, 0xd800])
        );
        // A lone high surrogate, then a complete pair.
        assert_eq!(
            string(r#""\ud800\ud83d\ude00é""#),
            JsString::Utf16(vec![0xd800, 0xd83d, 0xde00, 0xe9])
        );
        assert_eq!(
            string(r#""\ud800\u0041""#),
            JsString::Utf16(vec![0xd800, 0x41])
        );
        assert_eq!(round_trip(r#""\uD800x\uDFFF""#), r#""\ud800x\udfff""#);
    }

    #[test]
    fn object_key_order() {
        assert_eq!(
            round_trip(
                r#"{"b":1,"10":2,"a":3,"2":4,"01":5,"-1":6,"1.5":7,"4294967295":8,"4294967294":9,"0":10}"#
            ),
            r#"{"0":10,"2":4,"10":2,"4294967294":9,"b":1,"a":3,"01":5,"-1":6,"1.5":7,"4294967295":8}"#
        );
    }

    #[test]
    fn repeated_key_keeps_first_position_and_last_value() {
        assert_eq!(round_trip(r#"{"a":1,"b":2,"a":3}"#), r#"{"a":3,"b":2}"#);
        assert_eq!(round_trip(r#"{"1":1,"0":2,"1":3}"#), r#"{"0":2,"1":3}"#);
        // Past the size where the builder switches to a hash map.
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let text = format!("{{{},\"k3\":\"last\",\"7\":0}}", keys.join(","));
        let out = round_trip(&text);
        assert!(
            out.starts_with(r#"{"7":0,"k0":0,"k1":1,"k2":2,"k3":"last","k4":4"#),
            "{out}"
        );
        assert_eq!(
            parse(text.as_bytes()).unwrap().as_object().unwrap().len(),
            41
        );
    }

    #[test]
    fn adversarial_objects_parse_in_linear_time() {
        let distinct: Vec<String> = (0..100_000).map(|i| format!("\"{i:x}k\":0")).collect();
        let repeated = vec!["\"k\":0".to_owned(); 100_000];
        let indexes: Vec<String> = (0..100_000).rev().map(|i| format!("\"{i}\":0")).collect();
        for entries in [distinct, repeated, indexes] {
            let text = format!("{{{}}}", entries.join(","));
            let started = std::time::Instant::now();
            parse(text.as_bytes()).unwrap();
            // Generous for unoptimized test builds; quadratic behaviour takes minutes.
            assert!(
                started.elapsed().as_secs_f64() < 2.0,
                "{:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn nesting_is_capped() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            parse(nested(MAX_DEPTH + 1).as_bytes()),
            Err(JsonError::TooDeep { offset: MAX_DEPTH })
        );
        let objects = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(matches!(
            parse(objects.as_bytes()),
            Err(JsonError::TooDeep { .. })
        ));
        // Far deeper than the cap fails cleanly instead of overflowing the stack.
        assert!(parse("[".repeat(1_000_000).as_bytes()).is_err());
    }

    #[test]
    fn rejections() {
        use JsonError::*;
        let cases: &[(&[u8], JsonError)] = &[
            (b"", UnexpectedEnd { offset: 0 }),
            (b"  ", UnexpectedEnd { offset: 2 }),
            (
                b"[1,]",
                Unexpected {
                    offset: 3,
                    expected: "a JSON value",
                    found: ']',
                },
            ),
            (
                b"{\"a\":1,}",
                Unexpected {
                    offset: 7,
                    expected: "a string key",
                    found: '}',
                },
            ),
            (
                b"[1 2]",
                Unexpected {
                    offset: 3,
                    expected: "',' or ']'",
                    found: '2',
                },
            ),
            (
                b"{\"a\" 1}",
                Unexpected {
                    offset: 5,
                    expected: "':'",
                    found: '1',
                },
            ),
            (
                b"{a:1}",
                Unexpected {
                    offset: 1,
                    expected: "a string key",
                    found: 'a',
                },
            ),
            (b"01", InvalidNumber { offset: 0 }),
            (b"-01", InvalidNumber { offset: 0 }),
            (b"[00]", InvalidNumber { offset: 1 }),
            (
                b"+1",
                Unexpected {
                    offset: 0,
                    expected: "a JSON value",
                    found: '+',
                },
            ),
            (
                b".5",
                Unexpected {
                    offset: 0,
                    expected: "a JSON value",
                    found: '.',
                },
            ),
            (b"1.", InvalidNumber { offset: 0 }),
            (b"1.e5", InvalidNumber { offset: 0 }),
            (b"1e", InvalidNumber { offset: 0 }),
            (b"1e+", InvalidNumber { offset: 0 }),
            (b"-", InvalidNumber { offset: 0 }),
            (b"-a", InvalidNumber { offset: 0 }),
            (
                b"NaN",
                Unexpected {
                    offset: 0,
                    expected: "a JSON value",
                    found: 'N',
                },
            ),
            (
                b"Infinity",
                Unexpected {
                    offset: 0,
                    expected: "a JSON value",
                    found: 'I',
                },
            ),
            (b"-Infinity", InvalidNumber { offset: 0 }),
            (b"0x10", TrailingData { offset: 1 }),
            (
                b"'a'",
                Unexpected {
                    offset: 0,
                    expected: "a JSON value",
                    found: '\'',
                },
            ),
            (b"tru", UnexpectedEnd { offset: 3 }),
            (
                b"nul1",
                Unexpected {
                    offset: 3,
                    expected: "null",
                    found: '1',
                },
            ),
            (
                b"True",
                Unexpected {
                    offset: 0,
                    expected: "a JSON value",
                    found: 'T',
                },
            ),
            (b"\"a\nb\"", ControlCharacter { offset: 2 }),
            (b"\"\\\"\x1f\"", ControlCharacter { offset: 3 }),
            (b"\"\\x41\"", InvalidEscape { offset: 1 }),
            (b"\"\\U0041\"", InvalidEscape { offset: 1 }),
            (b"\"\\u004\"", InvalidEscape { offset: 1 }),
            (b"\"\\u00g1\"", InvalidEscape { offset: 1 }),
            (b"\"\\'\"", InvalidEscape { offset: 1 }),
            (b"\"\\", InvalidEscape { offset: 1 }),
            (b"\"abc", UnterminatedString { offset: 0 }),
            (b"[\"a\\n", UnterminatedString { offset: 1 }),
            (b"[1", UnexpectedEnd { offset: 2 }),
            (b"{\"a\":1", UnexpectedEnd { offset: 6 }),
            (b"{} {}", TrailingData { offset: 3 }),
            (b"1 x", TrailingData { offset: 2 }),
            (b"[1]]", TrailingData { offset: 3 }),
            (
                b"\x0c1",
                Unexpected {
                    offset: 0,
                    expected: "a JSON value",
                    found: '\u{c}',
                },
            ),
            (
                b"\xc2\xa01",
                Unexpected {
                    offset: 0,
                    expected: "a JSON value",
                    found: '\u{a0}',
                },
            ),
            (b"\xef\xbb\xbf{}", ByteOrderMark),
            (b"\"\xff\"", InvalidUtf8 { offset: 1 }),
            (b"[\"\xed\xa0\x80\"]", InvalidUtf8 { offset: 2 }),
            (b"\"\xc3\"", InvalidUtf8 { offset: 1 }),
        ];
        for (text, expected) in cases {
            let got = parse(text);
            assert_eq!(
                got.as_ref(),
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(text)
            );
            assert_eq!(got.unwrap_err().offset(), expected.offset());
        }
    }

    #[test]
    fn error_messages_are_short_and_located() {
        let message = |text: &[u8]| parse(text).unwrap_err().to_string();
        assert_eq!(
            message(b"[1,]"),
            "expected a JSON value, found ']' at byte 3"
        );
        assert_eq!(message(b"\"\xff\""), "invalid UTF-8 at byte 1");
        assert_eq!(message(b"[1"), "unexpected end of input at byte 2");
        assert_eq!(
            message(b"{}x"),
            "unexpected data after the JSON value at byte 2"
        );
    }
}
