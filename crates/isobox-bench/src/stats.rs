use serde::Serialize;

/// Order statistics of a set of samples.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// The 50th percentile (nearest rank), in the samples' unit.
    pub median: f64,
    /// The 90th percentile (nearest rank), in the samples' unit.
    pub p90: f64,
    /// The 99th percentile (nearest rank), in the samples' unit.
    pub p99: f64,
    /// The number of samples.
    pub count: usize,
}

impl Summary {
    /// `None` for no samples. Percentiles use the nearest rank.
    pub fn of(samples: &[f64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Some(Self { median: rank(0.5), p90: rank(0.9), p99: rank(0.99), count: sorted.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(Summary::of(&samples), Some(Summary { median: 50.0, p90: 90.0, p99: 99.0, count: 100 }));
        assert_eq!(Summary::of(&[7.0]), Some(Summary { median: 7.0, p90: 7.0, p99: 7.0, count: 1 }));
        assert_eq!(Summary::of(&[]), None);
    }
}
