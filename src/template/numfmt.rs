//! Part of `template` (beside the data flow): number printing as Java does it (`Double.toString`,
//! `Long.toString`).

use std::fmt::Write;

/// Appends `x` formatted like Java's `Double.toString(x)` (shortest round-trip digits):
/// `1.0`, `0.19`, `1.0E7`, `1.234E-5`, `NaN`, `Infinity`, `-0.0`.
pub(crate) fn write_java_double(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    if (1e-3..1e7).contains(&x.abs()) {
        // ryu writes this range in plain notation with the shortest round-trip digits and `.0`
        // after an integer: Java's form exactly ("1.0", "0.001", "123.45", "-2.5"), so its text
        // is copied as it is (`plain_range_is_javas_digit_layout` holds it to the rule).
        out.push_str(ryu::Buffer::new().format_finite(x));
        return;
    }
    let (digits, exp) = shortest(x.abs());
    let digits = digits.as_str();
    if x < 0.0 {
        out.push('-');
    }
    // Computerized scientific notation: d.dddE[-]n with at least one fraction digit.
    let (first, rest) = digits.split_at(1.min(digits.len()));
    out.push_str(first);
    out.push('.');
    if rest.is_empty() {
        out.push('0');
    } else {
        out.push_str(rest);
    }
    out.push('E');
    let _ = write!(out, "{}", exp);
}

/// The significant digits of a double, on the stack (at most 17; a longer text is cut, which
/// cannot happen).
#[derive(Default)]
struct StackBuf {
    buf: [u8; 32],
    len: usize,
}

impl StackBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// The shortest digits that round-trip `x` (finite, positive), without leading or trailing zeros,
/// and the decimal exponent of the first: 123.45 is ("12345", 2), 0.001 is ("1", -3). ryu prints
/// either plain ("123.45", "0.001", "1.0") or scientific ("1e21", "1.5e-7") text: both are read
/// back the same way.
fn shortest(x: f64) -> (StackBuf, i32) {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(x).as_bytes();
    let mut digits = StackBuf::default();
    // Digits before the point (all of them when there is none), the index of the first
    // significant digit, and the exponent after `e`.
    let mut int_len: Option<i32> = None;
    let mut first: Option<i32> = None;
    let mut seen = 0i32;
    let mut e = 0i32;
    let mut rest = text.iter();
    for &c in rest.by_ref() {
        match c {
            b'0'..=b'9' => {
                if first.is_none() && c != b'0' {
                    first = Some(seen);
                }
                if first.is_some() {
                    if let Some(slot) = digits.buf.get_mut(digits.len) {
                        *slot = c;
                        digits.len += 1;
                    }
                }
                seen += 1;
            }
            b'.' => int_len = Some(seen),
            _ => break, // `e`
        }
    }
    let mut negative = false;
    for &c in rest {
        match c {
            b'-' => negative = true,
            b'0'..=b'9' => e = e * 10 + i32::from(c - b'0'),
            _ => {}
        }
    }
    if negative {
        e = -e;
    }
    while digits.len > 1 && digits.buf[digits.len - 1] == b'0' {
        digits.len -= 1;
    }
    let exp = int_len.unwrap_or(seen) - 1 - first.unwrap_or(0) + e;
    (digits, exp)
}

/// `Double.toString` as a new string.
#[cfg(test)]
pub(crate) fn java_double(x: f64) -> String {
    let mut s = String::new();
    write_java_double(&mut s, x);
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::java_double;

    #[test]
    fn java_double_formatting() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(1.99), "1.99");
        assert_eq!(java_double(0.19), "0.19");
        assert_eq!(java_double(100.0), "100.0");
        assert_eq!(java_double(1234567.0), "1234567.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1.5e10), "1.5E10");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(1.234e-5), "1.234E-5");
        assert_eq!(java_double(-2.5), "-2.5");
        assert_eq!(java_double(-0.0), "-0.0");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_double(f64::INFINITY), "Infinity");
        assert_eq!(java_double(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(java_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(java_double(123.456), "123.456");
        assert_eq!(java_double(9999999.0), "9999999.0");
        assert_eq!(java_double(1.0e-3), "0.001");
        assert_eq!(java_double(1e21), "1.0E21");
    }

    /// The digits and exponent as Rust's own shortest formatting (`{:e}`) gives them, which the
    /// printing used before it read ryu's text: the two agree on every double but the exact ties
    /// in the last digit (1658206780088562.25: Rust rounds up, ryu to even, as Java 19's
    /// `Double.toString` does), where both round-trip.
    fn reference(x: f64) -> (String, i32) {
        let sci = format!("{:e}", x.abs());
        let (m, e) = sci.split_once('e').unwrap();
        let digits: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
        (digits, e.parse().unwrap())
    }

    /// Java's plain layout of `Double.toString` for 1e-3 <= |x| < 1e7, built from the shortest
    /// digits and exponent: the rule ryu's text is held to.
    fn java_plain(x: f64) -> String {
        let (digits, exp) = super::shortest(x.abs());
        let digits = digits.as_str();
        let mut out = String::from(if x < 0.0 { "-" } else { "" });
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                out.push_str(digits);
                out.push_str(&"0".repeat(int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exp - 1) as usize));
            out.push_str(digits);
        }
        out
    }

    #[test]
    fn plain_range_is_javas_digit_layout() {
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        let mut checked = 0;
        let mut check = |x: f64| {
            if (1e-3..1e7).contains(&x.abs()) {
                assert_eq!(java_double(x), java_plain(x), "{x:e}");
                checked += 1;
            }
        };
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Every exponent of the range, any mantissa; cents; small fractions; integers.
            let bits = (seed & 0x800F_FFFF_FFFF_FFFF) | ((1013 + (seed >> 52) % 34) << 52);
            check(f64::from_bits(bits));
            check((seed % 1_000_000_000) as f64 / 100.0);
            check((seed % 10_000) as f64 * 1e-3);
            check(-((seed % 9_999_999) as f64));
        }
        for x in [
            1e-3,
            0.00100000000000001,
            9999999.999999998,
            1.0,
            10.0,
            123.45,
            0.1 + 0.2,
        ] {
            check(x);
        }
        assert!(checked > 600_000, "{checked}");
    }

    #[test]
    fn shortest_digits_agree_with_rusts_formatting() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let check = |x: f64| {
            if !x.is_finite() || x == 0.0 {
                return;
            }
            let (d, e) = super::shortest(x.abs());
            let (rd, re) = reference(x);
            let n = d.as_str().len();
            if (d.as_str(), e) != (rd.as_str(), re)
                && n == rd.len()
                && d.as_str()[..n - 1] == rd[..n - 1]
            {
                let back: f64 = format!("{}.{}e{}", &d.as_str()[..1], &d.as_str()[1..], e)
                    .parse()
                    .unwrap();
                assert_eq!(back, x.abs(), "{x:e} does not round-trip");
            } else {
                assert_eq!((d.as_str(), e), (rd.as_str(), re), "{x:e}");
            }
        };
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            check(f64::from_bits(seed));
            check((seed % 100_000_000) as f64 / 100.0);
            check((seed % 1000) as f64 * 1e-5);
        }
        for x in [
            1.0,
            0.1,
            1e7,
            9999999.999,
            1e-3,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            123.45,
        ] {
            check(x);
        }
    }
}
