//! Differential test against Node.js: for thousands of random JSON texts, and as many mutated
//! (mostly invalid) ones, `switchyard::json` must accept exactly what `JSON.parse` accepts and
//! write exactly what `JSON.stringify(JSON.parse(text))` writes, byte for byte. Receivers verify
//! signatures over that Node.js output, so any difference here is a failed delivery.
//!
//! Every text goes to one `node` process (hex lines in a file, hex lines back). Node.js is
//! required: without it the test fails rather than skipping, because CI installs it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::Command;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use switchyard::json::parse;

const SEED: u64 = 0x5717_c4a2_d000_2024;
const VALID_TEXTS: usize = 3_000;
const MUTATED_TEXTS: usize = 3_000;

/// Reads hex-encoded UTF-8 texts, one a line after a `#` (texts may be empty), and prints `ok <hex of output>` or `err` for each.
const NODE_SCRIPT: &str = r#"
const fs = require('fs');
const lines = fs.readFileSync(process.argv[1], 'latin1').split('\n').filter((l) => l.length > 0);
const results = lines.map((line) => {
  const text = Buffer.from(line.slice(1), 'hex').toString('utf8');
  try {
    return 'ok ' + Buffer.from(JSON.stringify(JSON.parse(text)), 'utf8').toString('hex');
  } catch (e) {
    return 'err';
  }
});
process.stdout.write(results.join('\n') + '\n');
"#;

/// Keys that JS treats specially or that look like array indexes without being ones.
const SPECIAL_KEYS: &[&str] = &[
    "0",
    "7",
    "42",
    "10",
    "2",
    "4294967294",
    "4294967295",
    "4294967296",
    "01",
    "00",
    "-1",
    "-0",
    "1.5",
    "1e3",
    " 1",
    "9007199254740993",
    "",
    "a",
    "b",
    "__proto__",
    "constructor",
    "length",
    r"\u0030",
    r"\u0031\u0030",
    r"\u0034\u0032",
];

/// Numbers at the edges of f64 parsing and ECMAScript formatting.
const SPECIAL_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "0e0",
    "0E-0",
    "-0e+5",
    "1",
    "0.1",
    "100",
    "1e21",
    "1e20",
    "1E+21",
    "999999999999999999999",
    "123456789012345678901234567890",
    "9007199254740992",
    "9007199254740993",
    "-9007199254740993",
    "9007199254740995",
    "18446744073709551615",
    "18446744073709551616",
    "0.000001",
    "0.0000001",
    "1e-7",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "1e309",
    "1e400",
    "-1e400",
    "4.9406564584124654e-324",
    "5e-324",
    "2.4703282292062327e-324",
    "2.4703282292062328e-324",
    "2.2250738585072011e-308",
    "2.2250738585072014e-308",
    "1e-400",
    "0.30000000000000004",
    "1e0000000000000000000000021",
    "1e-99999999999999999999",
    "123.456e-2",
    "1.5E3",
];

/// Characters written literally inside strings.
const SPECIAL_CHARS: &[char] = &[
    '\u{7f}',
    '\u{80}',
    '\u{a0}',
    '\u{2028}',
    '\u{2029}',
    '\u{feff}',
    '\u{fffd}',
    '\u{fffe}',
    '\u{ffff}',
    '\u{10000}',
    '\u{1f600}',
    '\u{10ffff}',
    'é',
    '€',
    '/',
    '\'',
];

/// What a mutation may insert; many make the text invalid, some keep it valid.
const MUTATION_CHARS: &[char] = &[
    ',', ']', '}', '[', '{', ':', '"', '\\', '0', '1', '-', '+', '.', 'e', 'E', 'x', 't', 'n', 'u',
    '\'', ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{0}', '\u{1f}', '\u{a0}', '\u{feff}',
    '\u{2028}', 'é',
];

struct Generator {
    rng: StdRng,
}

impl Generator {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// Insignificant whitespace, sometimes.
    fn whitespace(&mut self, out: &mut String) {
        if self.chance(0.2) {
            for _ in 0..self.rng.random_range(1..=3) {
                out.push(*[' ', '\t', '\n', '\r'].choose(&mut self.rng).unwrap());
            }
        }
    }

    fn text(&mut self) -> String {
        let mut out = String::new();
        self.whitespace(&mut out);
        if self.chance(0.03) {
            self.deep(&mut out);
        } else {
            self.value(0, &mut out);
        }
        self.whitespace(&mut out);
        out
    }

    fn value(&mut self, depth: usize, out: &mut String) {
        let container_weight = if depth < 5 { 3 } else { 0 };
        match self.rng.random_range(0..7 + container_weight * 2) {
            0 => out.push_str("null"),
            1 => out.push_str(if self.chance(0.5) { "true" } else { "false" }),
            2 | 3 => self.number(out),
            4..=6 => self.string(out),
            n if n % 2 == 0 => self.array(depth + 1, out),
            _ => self.object(depth + 1, out),
        }
    }

    /// Nesting a few hundred levels deep (within the parser's cap), arrays and objects mixed.
    fn deep(&mut self, out: &mut String) {
        let depth = self.rng.random_range(50..=500);
        let mut closers = Vec::with_capacity(depth);
        for _ in 0..depth {
            if self.chance(0.5) {
                out.push('[');
                closers.push(']');
            } else {
                out.push_str("{\"k\":");
                closers.push('}');
            }
            self.whitespace(out);
        }
        self.number(out);
        while let Some(closer) = closers.pop() {
            out.push(closer);
        }
    }

    fn array(&mut self, depth: usize, out: &mut String) {
        out.push('[');
        self.whitespace(out);
        let len = self.length();
        for i in 0..len {
            if i > 0 {
                out.push(',');
                self.whitespace(out);
            }
            self.value(depth, out);
            self.whitespace(out);
        }
        out.push(']');
    }

    fn object(&mut self, depth: usize, out: &mut String) {
        out.push('{');
        self.whitespace(out);
        // Some objects are large (past the parser's hash-map threshold) and reuse a few keys.
        let len = if self.chance(0.1) {
            self.rng.random_range(15..40)
        } else {
            self.length()
        };
        let mut used: Vec<String> = Vec::new();
        for i in 0..len {
            if i > 0 {
                out.push(',');
                self.whitespace(out);
            }
            let key = match used.choose(&mut self.rng) {
                Some(key) if self.chance(0.15) => key.clone(),
                _ => {
                    let mut key = String::new();
                    self.key(&mut key);
                    used.push(key.clone());
                    key
                }
            };
            out.push_str(&key);
            self.whitespace(out);
            out.push(':');
            self.whitespace(out);
            self.value(depth, out);
            self.whitespace(out);
        }
        out.push('}');
    }

    fn length(&mut self) -> usize {
        match self.rng.random_range(0..10) {
            0 => 0,
            1..=7 => self.rng.random_range(1..5),
            _ => self.rng.random_range(5..12),
        }
    }

    fn key(&mut self, out: &mut String) {
        if self.chance(0.4) {
            out.push('"');
            out.push_str(SPECIAL_KEYS.choose(&mut self.rng).unwrap());
            out.push('"');
        } else if self.chance(0.2) {
            let index: u64 = match self.rng.random_range(0..3) {
                0 => self.rng.random_range(0..100),
                1 => self.rng.random_range(0..=u64::from(u32::MAX) + 10),
                _ => u64::from(u32::MAX) - self.rng.random_range(0..3),
            };
            write!(out, "\"{index}\"").unwrap();
        } else {
            self.string(out);
        }
    }

    fn number(&mut self, out: &mut String) {
        match self.rng.random_range(0..10) {
            0 => out.push_str(SPECIAL_NUMBERS.choose(&mut self.rng).unwrap()),
            1 => {
                // Any finite double, in Rust's shortest round-trip or exponent form.
                let n = loop {
                    let n = f64::from_bits(self.rng.random());
                    if n.is_finite() {
                        break n;
                    }
                };
                if self.chance(0.5) {
                    write!(out, "{n:e}").unwrap();
                } else {
                    write!(out, "{n:?}").unwrap();
                }
            }
            2 => {
                let n: i64 = self.rng.random();
                write!(out, "{}", n >> self.rng.random_range(0..64)).unwrap();
            }
            _ => self.number_literal(out),
        }
    }

    /// A number assembled from the grammar's parts, any magnitude.
    fn number_literal(&mut self, out: &mut String) {
        if self.chance(0.25) {
            out.push('-');
        }
        if self.chance(0.25) {
            out.push('0');
        } else {
            let digits = self.digit_count();
            out.push(char::from(b'0' + self.rng.random_range(1..=9)));
            self.digits(digits - 1, out);
        }
        if self.chance(0.35) {
            out.push('.');
            let digits = self.digit_count();
            self.digits(digits, out);
        }
        if self.chance(0.3) {
            out.push(if self.chance(0.5) { 'e' } else { 'E' });
            out.push_str(["", "+", "-"].choose(&mut self.rng).unwrap());
            let exponent = match self.rng.random_range(0..4) {
                0 => self.rng.random_range(0..10),
                1 => self.rng.random_range(0..30),
                2 => self.rng.random_range(280..340),
                _ => self.rng.random_range(0..1000),
            };
            if self.chance(0.1) {
                out.push_str("00");
            }
            write!(out, "{exponent}").unwrap();
        }
    }

    fn digit_count(&mut self) -> usize {
        match self.rng.random_range(0..20) {
            0..=11 => self.rng.random_range(1..6),
            12..=17 => self.rng.random_range(6..25),
            18 => self.rng.random_range(25..60),
            _ => self.rng.random_range(300..800),
        }
    }

    fn digits(&mut self, count: usize, out: &mut String) {
        for _ in 0..count {
            out.push(char::from(b'0' + self.rng.random_range(0..=9)));
        }
    }

    /// A string literal mixing plain text, every escape form and literal non-ASCII.
    fn string(&mut self, out: &mut String) {
        out.push('"');
        let pieces = match self.rng.random_range(0..10) {
            0 => 0,
            1..=8 => self.rng.random_range(1..6),
            _ => self.rng.random_range(6..40),
        };
        for _ in 0..pieces {
            match self.rng.random_range(0..12) {
                0..=3 => {
                    for _ in 0..self.rng.random_range(1..12) {
                        let c = self.rng.random_range(0x20u8..0x7f);
                        if c != b'"' && c != b'\\' {
                            out.push(char::from(c));
                        }
                    }
                }
                4 => out.push_str(
                    [r#"\""#, r"\\", r"\/", r"\b", r"\f", r"\n", r"\r", r"\t"]
                        .choose(&mut self.rng)
                        .unwrap(),
                ),
                5 | 6 => self.unicode_escape(out),
                7 => out.push(*SPECIAL_CHARS.choose(&mut self.rng).unwrap()),
                8 => out.push(self.literal_char(0x80..0xd800)),
                9 => out.push(self.literal_char(0xe000..0x10000)),
                10 => out.push(self.literal_char(0x10000..0x110000)),
                _ => out.push_str("plain text"),
            }
        }
        out.push('"');
    }

    fn literal_char(&mut self, range: std::ops::Range<u32>) -> char {
        char::from_u32(self.rng.random_range(range)).unwrap()
    }

    /// A `\uXXXX` escape (hex in either case): controls, BMP, pairs, lone and reversed halves.
    fn unicode_escape(&mut self, out: &mut String) {
        let units: Vec<u16> = match self.rng.random_range(0..8) {
            0 => vec![self.rng.random_range(0..0x20)],
            1 => vec![self.rng.random_range(0x20..0x80)],
            2 => vec![self.rng.random()],
            3 => vec![self.rng.random_range(0xd800..0xdc00)],
            4 => vec![self.rng.random_range(0xdc00..0xe000)],
            5 => vec![
                self.rng.random_range(0xdc00..0xe000),
                self.rng.random_range(0xd800..0xdc00),
            ],
            _ => vec![
                self.rng.random_range(0xd800..0xdc00),
                self.rng.random_range(0xdc00..0xe000),
            ],
        };
        for unit in units {
            if self.chance(0.5) {
                write!(out, "\\u{unit:04x}").unwrap();
            } else {
                write!(out, "\\u{unit:04X}").unwrap();
            }
        }
    }

    /// The text with one to three random edits, each at a char boundary.
    fn mutate(&mut self, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..self.rng.random_range(1..=3) {
            let at = self.rng.random_range(0..=chars.len());
            let c = *MUTATION_CHARS.choose(&mut self.rng).unwrap();
            match self.rng.random_range(0..8) {
                0 | 1 if at < chars.len() => {
                    chars.remove(at);
                }
                2 | 3 => chars.insert(at, c),
                4 if at < chars.len() => chars[at] = c,
                5 => chars.truncate(at),
                6 => chars.insert(0, '\u{feff}'),
                _ => {
                    let end = self.rng.random_range(at..=chars.len().min(at + 8));
                    let copy: Vec<char> = chars[at..end].to_vec();
                    chars.splice(at..at, copy);
                }
            }
        }
        chars.into_iter().collect()
    }
}

/// What Node.js makes of each text: `Some(JSON.stringify(JSON.parse(text)))`, or `None` if
/// `JSON.parse` throws.
fn node_round_trips(texts: &[String]) -> Vec<Option<Vec<u8>>> {
    let mut input = tempfile::NamedTempFile::new().expect("temp file");
    for text in texts {
        writeln!(input, "#{}", hex::encode(text)).expect("write texts");
    }
    input.flush().expect("write texts");
    let output = match Command::new("node")
        .arg("-e")
        .arg(NODE_SCRIPT)
        .arg(input.path())
        .output()
    {
        Ok(output) => output,
        Err(e) => panic!(
            "this test needs Node.js (`node` on PATH) to compare against JSON.parse/stringify \
             and could not run it: {e}"
        ),
    };
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Option<Vec<u8>>> = String::from_utf8(output.stdout)
        .expect("node prints ASCII")
        .lines()
        .map(|line| match line.strip_prefix("ok ") {
            Some(hex) => Some(hex::decode(hex).expect("node prints hex")),
            None => {
                assert_eq!(line, "err", "unexpected node output");
                None
            }
        })
        .collect();
    assert_eq!(results.len(), texts.len(), "one node result per text");
    results
}

/// Compares our parse/write with Node's for each text; returns a description of each mismatch.
fn mismatches(texts: &[String], node: &[Option<Vec<u8>>]) -> Vec<String> {
    let mut problems = Vec::new();
    for (text, expected) in texts.iter().zip(node) {
        let ours = parse(text.as_bytes());
        match (expected, ours) {
            (None, Err(_)) => {}
            (None, Ok(value)) => problems.push(format!(
                "node rejects but we accept {text:?} as {:?}",
                String::from_utf8_lossy(&value.to_json_bytes())
            )),
            (Some(expected), Err(e)) => problems.push(format!(
                "node accepts but we reject {text:?}: {e} (node wrote {:?})",
                String::from_utf8_lossy(expected)
            )),
            (Some(expected), Ok(value)) => {
                let written = value.to_json_bytes();
                if written != *expected {
                    problems.push(format!(
                        "different output for {text:?}:\n  node: {:?}\n  ours: {:?}",
                        String::from_utf8_lossy(expected),
                        String::from_utf8_lossy(&written)
                    ));
                    continue;
                }
                let again = parse(&written).map(|v| v.to_json_bytes());
                if again.as_ref() != Ok(&written) {
                    problems.push(format!("output is not a fixed point: {again:?}"));
                }
            }
        }
    }
    problems
}

fn assert_same_as_node(texts: &[String]) -> (usize, usize) {
    let node = node_round_trips(texts);
    let problems = mismatches(texts, &node);
    assert!(
        problems.is_empty(),
        "{} of {} texts differ from Node.js; the first ones:\n{}",
        problems.len(),
        texts.len(),
        problems[..problems.len().min(10)].join("\n")
    );
    let accepted = node.iter().filter(|r| r.is_some()).count();
    (accepted, texts.len() - accepted)
}

#[test]
fn random_texts_round_trip_exactly_as_in_node() {
    let mut generator = Generator {
        rng: StdRng::seed_from_u64(SEED),
    };
    let texts: Vec<String> = (0..VALID_TEXTS).map(|_| generator.text()).collect();
    let (accepted, rejected) = assert_same_as_node(&texts);
    assert_eq!(rejected, 0, "the generator must only write valid JSON");
    assert_eq!(accepted, VALID_TEXTS);
}

#[test]
fn mutated_texts_are_accepted_and_rejected_exactly_as_in_node() {
    let mut generator = Generator {
        rng: StdRng::seed_from_u64(SEED + 1),
    };
    let texts: Vec<String> = (0..MUTATED_TEXTS)
        .map(|_| {
            let text = generator.text();
            generator.mutate(&text)
        })
        .collect();
    let (accepted, rejected) = assert_same_as_node(&texts);
    // Both outcomes must be well represented for the comparison to mean something.
    assert!(
        accepted > MUTATED_TEXTS / 10,
        "only {accepted} mutated texts are valid"
    );
    assert!(
        rejected > MUTATED_TEXTS / 2,
        "only {rejected} mutated texts are invalid"
    );
}

#[test]
fn edge_cases_match_node() {
    let texts: Vec<String> = [
        "{}",
        "[]",
        "\"\"",
        "0",
        "-0",
        " 1 ",
        "\t\n\r 1",
        "1e21",
        "1e20",
        "[1.0,0.1,5e-324]",
        "1e400",
        "[9007199254740993]",
        "123456789012345678901234567890",
        r#""\ud800""#,
        r#""\udc00\ud800""#,
        r#""\uD83D\uDE00""#,
        "\"\u{2028}\u{2029}\u{7f}\"",
        r#""\u001F\u007f""#,
        r#"{"b":1,"a":2,"1":3,"0":4,"b":5}"#,
        r#"{"4294967295":1,"4294967294":2,"01":3,"1":4}"#,
        r#"{"__proto__":{"x":1},"__proto__":2}"#,
        r#"{"\u0030":1,"0":2}"#,
        "[1,]",
        "{\"a\":1,}",
        "01",
        "+1",
        ".5",
        "1.",
        "NaN",
        "Infinity",
        "'a'",
        "\"\t\"",
        r#""\x""#,
        "\"abc",
        "[1]x",
        "\u{feff}{}",
        "[\u{a0}1]",
        "[\u{c}1]",
        "[\u{b}1]",
        "nul",
        "true false",
        "{\"a\" 1}",
        "[-]",
        "[1e]",
        "-01",
        "0e",
        "0.e1",
        "[0x1]",
        "{,}",
        "[,1]",
        "\"\\u12\"",
        "\"\\",
        "{\"a\":}",
        "[\"a\":1]",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (accepted, rejected) = assert_same_as_node(&texts);
    assert!(accepted > 10 && rejected > 10);
}
