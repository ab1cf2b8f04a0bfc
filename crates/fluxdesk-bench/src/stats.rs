//! Summary statistics for latency samples: mean and nearest-rank percentiles.
//!
//! Contract: [`Summary::of`] never panics; an empty sample gives `n = 0` and zeros. Percentiles
//! use the nearest-rank method (p95 of 20 samples is the 19th smallest), so every reported value
//! is one that was actually measured.

use serde::{Deserialize, Serialize};

/// Count, mean, p50, p95, min and max of a sample (same unit as the input, usually ms).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Summary {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Summary::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Summary {
            n,
            mean: v.iter().sum::<f64>() / n as f64,
            p50: nearest_rank(&v, 0.50),
            p95: nearest_rank(&v, 0.95),
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// The nearest-rank percentile of an ascending, non-empty slice.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `a / b`, or `None` when `b` is zero or either is not finite (the report shows "n/a").
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    let r = a / b;
    (a.is_finite() && b.is_finite() && b != 0.0 && r.is_finite()).then_some(r)
}

/// Milliseconds of a duration as f64.
pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = Summary::of(&v);
        assert_eq!((s.n, s.p50, s.p95, s.min, s.max), (20, 10.0, 19.0, 1.0, 20.0));
        assert!((s.mean - 10.5).abs() < 1e-9);
        assert_eq!(Summary::of(&[]).n, 0);
        assert_eq!(Summary::of(&[7.0]).p95, 7.0);
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
    }
}
