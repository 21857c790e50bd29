//! Part of the first stage of the data flow (`config`): a token bucket's settings as stages,
//! routes, gateway.yaml and usage plans write them (`rate`, `burst`), and their check.

use super::problem::{Problem, Problems};
use super::typed::line_of;
use serde::Deserialize;

type Located<T> = serde_saphyr::Spanned<T>;

/// A token bucket: `rate` requests per second on average, `burst` at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDef {
    pub rate: Located<f64>,
    pub burst: Located<u64>,
}

impl ThrottleDef {
    /// A token bucket's settings: a rate above 0, a burst of at least 1.
    pub fn problems(&self, file: &str) -> Problems {
        let t = self;
        let mut problems = Problems::default();
        if !(t.rate.value > 0.0 && t.rate.value.is_finite()) {
            problems.push(Problem::error(
                file,
                line_of(&t.rate),
                format!(
                    "throttle rate {} must be above 0 (requests per second)",
                    t.rate.value
                ),
            ));
        }
        if t.burst.value == 0 {
            problems.push(Problem::error(
                file,
                line_of(&t.burst),
                "throttle burst must be at least 1",
            ));
        }
        problems
    }
}
