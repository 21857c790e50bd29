//! Part of the second stage of the data flow (`snapshot`): weighted choice over an alias's
//! versions: cumulative weights and a binary search, built once per snapshot. Unlike pingora's
//! `Weighted` selector it does not expand weights into an array (9000/1000 costs two entries, not
//! 10,000) and it never merges versions that share targets.

use rand::Rng;

#[derive(Debug, Clone)]
pub struct WeightedPicker {
    /// `cumulative[i]` = sum of weights of entries `0..=i`; zero-weight entries repeat the previous
    /// sum, so no random draw can land on them.
    cumulative: Box<[u64]>,
    total: u64,
}

impl WeightedPicker {
    /// `None` when there is nothing to pick (no entries, or all weights are zero).
    pub fn new(weights: &[u32]) -> Option<WeightedPicker> {
        let mut sum = 0u64;
        let cumulative: Box<[u64]> = weights
            .iter()
            .map(|w| {
                sum += u64::from(*w);
                sum
            })
            .collect();
        (sum > 0).then_some(WeightedPicker {
            cumulative,
            total: sum,
        })
    }

    /// A picker over one entry (a plain version or endpoint): always entry 0.
    pub fn single() -> WeightedPicker {
        WeightedPicker {
            cumulative: Box::new([1]),
            total: 1,
        }
    }

    /// The sum of the weights: draws for `pick_with` range over `0..total`.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// The entry that owns draw `r` (in `0..total`).
    pub fn pick_with(&self, r: u64) -> usize {
        self.cumulative.partition_point(|c| *c <= r)
    }

    /// Picks an entry with probability weight / total, from the thread-local RNG (no shared state).
    pub fn pick(&self) -> usize {
        if self.cumulative.len() == 1 {
            return 0;
        }
        self.pick_with(rand::rng().random_range(0..self.total))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn draws_map_to_owners_and_skip_zero_weights() {
        let p = WeightedPicker::new(&[3, 0, 1]).unwrap();
        let owners: Vec<usize> = (0..4).map(|r| p.pick_with(r)).collect();
        assert_eq!(owners, [0, 0, 0, 2]);
    }

    #[test]
    fn nothing_to_pick() {
        assert!(WeightedPicker::new(&[]).is_none());
        assert!(WeightedPicker::new(&[0, 0]).is_none());
    }

    #[test]
    fn shares_within_one_percent_over_100k_picks() {
        let weights = [95u32, 5, 0, 30];
        let total: u32 = weights.iter().sum();
        let p = WeightedPicker::new(&weights).unwrap();
        let n = 100_000;
        let mut counts = [0u32; 4];
        for _ in 0..n {
            counts[p.pick()] += 1;
        }
        assert_eq!(counts[2], 0, "weight 0 must never be picked");
        for (i, w) in weights.iter().enumerate() {
            let want = f64::from(*w) / f64::from(total);
            let got = f64::from(counts[i]) / f64::from(n);
            assert!(
                (got - want).abs() < 0.01,
                "entry {i}: share {got:.4}, configured {want:.4}"
            );
        }
    }

    #[test]
    fn huge_weights_do_not_overflow() {
        let p = WeightedPicker::new(&[u32::MAX, u32::MAX]).unwrap();
        assert_eq!(p.pick_with(u64::from(u32::MAX)), 1);
    }
}
