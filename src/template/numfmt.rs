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
    // Rust's `{:e}` gives the shortest round-trip digits: "1.234e-5", "1e7".
    let sci = format!("{:e}", x);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    if negative {
        out.push('-');
    }
    let abs = x.abs();
    if (1e-3..1e7).contains(&abs) {
        // Plain notation: digits with the decimal point after position exp+1.
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
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
}

/// `Double.toString` as a new string.
#[cfg(test)]
pub(crate) fn java_double(x: f64) -> String {
    let mut s = String::new();
    write_java_double(&mut s, x);
    s
}

#[cfg(test)]
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
}
