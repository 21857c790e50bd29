//! Part of the second stage of the data flow (`snapshot`): fault injection (like Envoy's fault
//! filter), compiled from a route's or stage's `fault:`: a share of requests is delayed, a share
//! aborted with a chosen status. For load tests and chaos drills.

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    pub delay: Option<(Duration, f64)>,
    pub abort: Option<(u16, f64)>,
}

/// What a fault does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Injected {
    pub delay: Option<Duration>,
    pub abort: Option<u16>,
}

impl Fault {
    pub fn from_def(d: &crate::config::model::FaultDef) -> Option<Fault> {
        let delay = d.delay_ms.as_ref().map(|ms| {
            (
                Duration::from_millis(ms.value),
                d.delay_percent.as_ref().map(|p| p.value).unwrap_or(100.0),
            )
        });
        let abort = d.abort_status.as_ref().map(|s| {
            (
                s.value,
                d.abort_percent.as_ref().map(|p| p.value).unwrap_or(100.0),
            )
        });
        (delay.is_some() || abort.is_some()).then_some(Fault { delay, abort })
    }

    /// Draws for one request: each part independently, with its own share.
    pub fn draw(&self) -> Injected {
        let mut rng = rand::rng();
        let mut hit = |percent: f64| {
            percent >= 100.0 || (percent > 0.0 && rng.random::<f64>() * 100.0 < percent)
        };
        Injected {
            delay: self.delay.and_then(|(d, p)| hit(p).then_some(d)),
            abort: self.abort.and_then(|(s, p)| hit(p).then_some(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_honoured() {
        let f = Fault {
            delay: Some((Duration::from_millis(5), 100.0)),
            abort: Some((503, 0.0)),
        };
        for _ in 0..100 {
            assert_eq!(
                f.draw(),
                Injected {
                    delay: Some(Duration::from_millis(5)),
                    abort: None
                }
            );
        }
        let half = Fault {
            delay: None,
            abort: Some((503, 50.0)),
        };
        let n = (0..10_000).filter(|_| half.draw().abort.is_some()).count();
        assert!((4_500..5_500).contains(&n), "{n}");
    }
}
