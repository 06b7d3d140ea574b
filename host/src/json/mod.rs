//! # JavaScript-compatible JSON
//!
//! Receivers verify `HMAC(secret, JSON.stringify(JSON.parse(body)))`, so every byte Switchyard
//! signs must be a fixed point of that round trip in Node.js. This module is the one JSON value
//! type the gateway carries events in:
//!
//! - [`parse`] accepts exactly what `JSON.parse` accepts (RFC 8259 text, lone surrogate escapes
//!   included) and builds values the way JavaScript does: numbers become `f64`, object keys are
//!   ordered as JS orders own properties (canonical array-index keys first, ascending, then the
//!   other keys in insertion order), and a repeated key keeps its first position with the last
//!   value.
//! - [`JsValue::write_json`] writes what `JSON.stringify` writes for that value: no whitespace,
//!   numbers in ECMAScript's Number-to-string format (`ryu-js`), strings escaped as JS escapes them.

mod parse;
mod value;
mod write;

pub use parse::{JsonError, parse};
pub use value::{JsObject, JsString, JsValue};
