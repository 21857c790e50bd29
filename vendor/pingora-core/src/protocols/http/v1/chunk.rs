// Copyright 2026 Cloudflare, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//! Strict parsing of the framing lines of a chunked request body (RFC 9112 section 7.1).
//!
//! `httparse::parse_chunk_size` is lenient: it ends an extension at a bare LF and reads an
//! empty line as size 0. A proxy that is lenient where the next hop is strict (or the other
//! way round) disagrees with it about where a request ends, which is request smuggling. A
//! server therefore reads chunk-size lines and trailer lines exactly as the grammar says,
//! lines ending only at CRLF:
//!
//! ```text
//! chunk-line  = 1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ) BWS CRLF
//! trailer     = *( token ":" *( field-vchar / SP / HTAB ) CRLF ) CRLF
//! ```
//!
//! Whitespace before the CRLF of a chunk line is accepted (both readings agree on it).

use httparse::Status;

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// RFC 9110 5.6.2: `tchar`.
fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `qdtext` of RFC 9110 5.6.4 (HTAB, SP, visible ASCII but `"` and `\`, obs-text).
fn is_qdtext(b: u8) -> bool {
    is_ws(b) || b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b) || b >= 0x80
}

/// What may follow `\` in a quoted-string, and what a field value may hold besides SP/HTAB.
fn is_vchar_or_obs(b: u8) -> bool {
    (0x21..=0x7E).contains(&b) || b >= 0x80
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Line {
    AfterSize,
    BeforeName,
    Name,
    AfterName,
    BeforeValue,
    Token,
    Quoted,
    QuotedPair,
    Cr,
}

/// Parses one chunk-size line at the start of `buf`.
///
/// Returns the index just past its CRLF and the chunk size, `Partial` when `buf` ends inside
/// the line, or why the line is not valid. The same contract as `httparse::parse_chunk_size`.
pub fn parse_chunk_size_line(buf: &[u8]) -> Result<Status<(usize, u64)>, &'static str> {
    let mut size: u64 = 0;
    let digits = buf.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    for &b in &buf[..digits] {
        // is_ascii_hexdigit above guarantees to_digit succeeds
        let v = (b as char).to_digit(16).unwrap_or(0) as u64;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(v))
            .ok_or("chunk size overflows")?;
    }
    if digits == buf.len() {
        return Ok(Status::Partial);
    }
    if digits == 0 {
        return Err("chunk size is not a hexadecimal number");
    }
    let mut state = Line::AfterSize;
    for (i, &b) in buf.iter().enumerate().skip(digits) {
        state = match state {
            Line::AfterSize => match b {
                _ if is_ws(b) => Line::AfterSize,
                b';' => Line::BeforeName,
                CR => Line::Cr,
                _ => return Err("invalid byte after the chunk size"),
            },
            Line::BeforeName => match b {
                _ if is_ws(b) => Line::BeforeName,
                _ if is_tchar(b) => Line::Name,
                _ => return Err("invalid chunk extension name"),
            },
            Line::Name | Line::AfterName => match b {
                _ if is_tchar(b) && state == Line::Name => Line::Name,
                _ if is_ws(b) => Line::AfterName,
                b'=' => Line::BeforeValue,
                b';' => Line::BeforeName,
                CR => Line::Cr,
                _ => return Err("invalid byte in a chunk extension"),
            },
            Line::BeforeValue => match b {
                _ if is_ws(b) => Line::BeforeValue,
                b'"' => Line::Quoted,
                _ if is_tchar(b) => Line::Token,
                _ => return Err("invalid chunk extension value"),
            },
            Line::Token => match b {
                _ if is_tchar(b) => Line::Token,
                _ if is_ws(b) => Line::AfterSize,
                b';' => Line::BeforeName,
                CR => Line::Cr,
                _ => return Err("invalid byte in a chunk extension value"),
            },
            Line::Quoted => match b {
                b'"' => Line::AfterSize,
                b'\\' => Line::QuotedPair,
                _ if is_qdtext(b) => Line::Quoted,
                _ => return Err("invalid byte in a quoted chunk extension value"),
            },
            Line::QuotedPair => match b {
                _ if is_ws(b) || is_vchar_or_obs(b) => Line::Quoted,
                _ => return Err("invalid escape in a quoted chunk extension value"),
            },
            Line::Cr => match b {
                LF => return Ok(Status::Complete((i + 1, size))),
                _ => return Err("chunk line does not end with CRLF"),
            },
        };
    }
    Ok(Status::Partial)
}

/// Validates the trailer section of a chunked body, fed in pieces as it is read, from the byte
/// after the last chunk's line up to and including the empty line that ends the body. Bytes
/// fed after that end (a pipelined next request) are not looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrailerCheck {
    #[default]
    LineStart,
    Name,
    Value,
    LineCr,
    FinalCr,
    Done,
}

impl TrailerCheck {
    pub fn feed(&mut self, buf: &[u8]) -> Result<(), &'static str> {
        for &b in buf {
            *self = match *self {
                TrailerCheck::Done => return Ok(()),
                TrailerCheck::LineStart => match b {
                    CR => TrailerCheck::FinalCr,
                    _ if is_tchar(b) => TrailerCheck::Name,
                    _ => return Err("trailer line is not a header field"),
                },
                TrailerCheck::Name => match b {
                    b':' => TrailerCheck::Value,
                    _ if is_tchar(b) => TrailerCheck::Name,
                    _ => return Err("invalid trailer field name"),
                },
                TrailerCheck::Value => match b {
                    CR => TrailerCheck::LineCr,
                    _ if is_ws(b) || is_vchar_or_obs(b) => TrailerCheck::Value,
                    _ => return Err("invalid byte in a trailer field value"),
                },
                TrailerCheck::LineCr | TrailerCheck::FinalCr => match b {
                    LF if *self == TrailerCheck::LineCr => TrailerCheck::LineStart,
                    LF => TrailerCheck::Done,
                    _ => return Err("trailer line does not end with CRLF"),
                },
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &[u8]) -> Result<Status<(usize, u64)>, &'static str> {
        parse_chunk_size_line(s)
    }

    #[test]
    fn chunk_lines() {
        assert_eq!(line(b"5\r\nhello"), Ok(Status::Complete((3, 5))));
        assert_eq!(line(b"1F\r\n"), Ok(Status::Complete((4, 31))));
        assert_eq!(line(b"0005\r\n"), Ok(Status::Complete((6, 5))));
        assert_eq!(line(b"5 \r\n"), Ok(Status::Complete((4, 5))));
        assert_eq!(line(b"5;a=b\r\n"), Ok(Status::Complete((7, 5))));
        assert_eq!(line(b"5 ; a = \"x\\\"y\" ;b\r\n"), Ok(Status::Complete((19, 5))));
        assert_eq!(line(b"5;a"), Ok(Status::Partial));
        assert_eq!(line(b"5\r"), Ok(Status::Partial));
        assert_eq!(line(b"ff"), Ok(Status::Partial));
        assert_eq!(line(b""), Ok(Status::Partial));
        assert_eq!(line(b"ffffffffffffffff\r\n"), Ok(Status::Complete((18, u64::MAX))));

        for bad in [
            &b"\r\n"[..],
            b"2;\nxx\r\n",
            b"5\n",
            b"5\rx",
            b"0x5\r\n",
            b"-5\r\n",
            b" 5\r\n",
            b"5;\r\n",
            b"5;a=\r\n",
            b"5;a=\"x\r\n",
            b"5;a=\"\n\"\r\n",
            b"5 6\r\n",
            b"fffffffffffffffff\r\n",
        ] {
            assert!(line(bad).is_err(), "{:?}", bad.escape_ascii().to_string());
        }
    }

    fn trailers(pieces: &[&[u8]]) -> Result<TrailerCheck, &'static str> {
        let mut check = TrailerCheck::default();
        for p in pieces {
            check.feed(p)?;
        }
        Ok(check)
    }

    #[test]
    fn trailer_sections() {
        assert_eq!(trailers(&[b"\r\n"]), Ok(TrailerCheck::Done));
        assert_eq!(trailers(&[b"X-T: 1\r\n\r\nGET / HTTP/1.1\n"]), Ok(TrailerCheck::Done));
        assert_eq!(trailers(&[b"X-T", b": 1\r", b"\nA:\r\n", b"\r\n"]), Ok(TrailerCheck::Done));
        assert_eq!(trailers(&[b"X-T: 1\r\n"]), Ok(TrailerCheck::LineStart));
        for bad in [
            &b"GET /x HTTP/1.1\r\n\r\n"[..],
            b"X-T 1\r\n\r\n",
            b"X-T: 1\n\r\n",
            b"X-T: a\0b\r\n\r\n",
            b" folded\r\n\r\n",
            b": x\r\n\r\n",
            b"\r\r\n",
        ] {
            assert!(trailers(&[bad]).is_err(), "{:?}", bad.escape_ascii().to_string());
        }
    }
}
