//! How long tasks of each kind have recently taken, so the poller can sleep through most of a
//! task's run instead of asking PiAPI again and again while it certainly is not done.
//!
//! Contract: [`DurationBook::record`] keeps the last [`KEEP`] durations per (model, task type);
//! [`DurationBook::expected`] returns a low percentile ([`PERCENTILE`]) of them once there are at
//! least [`MIN_SAMPLES`], else `None` (the poller then checks from the start). A low percentile
//! rather than the mean: waking a little early costs one GET, waking late costs the designer's
//! time and, in a batch, a plan slot.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use piapi::{Model, TaskType};

/// Durations kept per kind of task.
pub const KEEP: usize = 16;
/// Samples needed before the book predicts anything.
pub const MIN_SAMPLES: usize = 3;
/// The percentile of recent durations used as the expectation.
pub const PERCENTILE: f64 = 0.1;

/// Recent task durations (from PiAPI accepting the task to it being done), per kind.
#[derive(Debug, Default)]
pub struct DurationBook {
    samples: Mutex<HashMap<(Model, TaskType), VecDeque<Duration>>>,
}

impl DurationBook {
    pub fn new() -> Self {
        DurationBook::default()
    }

    /// Records how long one task of this kind took.
    pub fn record(&self, model: Model, task: TaskType, took: Duration) {
        if took.is_zero() {
            return;
        }
        let mut map = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let q = map.entry((model, task)).or_default();
        if q.len() == KEEP {
            q.pop_front();
        }
        q.push_back(took);
    }

    /// What a task of this kind is expected to take, if enough are known.
    pub fn expected(&self, model: Model, task: TaskType) -> Option<Duration> {
        let map = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let q = map.get(&(model, task))?;
        if q.len() < MIN_SAMPLES {
            return None;
        }
        let mut v: Vec<Duration> = q.iter().copied().collect();
        v.sort_unstable();
        // Nearest-rank percentile.
        let rank = ((PERCENTILE * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v.get(rank - 1).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn predicts_nothing_until_enough_samples() {
        let b = DurationBook::new();
        b.record(Model::Schnell, TaskType::Txt2Img, MS(500));
        b.record(Model::Schnell, TaskType::Txt2Img, MS(600));
        assert_eq!(b.expected(Model::Schnell, TaskType::Txt2Img), None);
        b.record(Model::Schnell, TaskType::Txt2Img, MS(700));
        assert_eq!(b.expected(Model::Schnell, TaskType::Txt2Img), Some(MS(500)));
        assert_eq!(b.expected(Model::Dev, TaskType::Txt2Img), None, "kinds are separate");
        assert_eq!(b.expected(Model::Schnell, TaskType::Img2Img), None, "kinds are separate");
    }

    #[test]
    fn uses_a_low_percentile_of_the_most_recent_samples() {
        let b = DurationBook::new();
        for ms in 1..=10 {
            b.record(Model::Dev, TaskType::Txt2Img, MS(ms * 1000));
        }
        // 10th percentile of 1..=10 s by nearest rank = 1 s.
        assert_eq!(b.expected(Model::Dev, TaskType::Txt2Img), Some(MS(1000)));
        for _ in 0..KEEP {
            b.record(Model::Dev, TaskType::Txt2Img, MS(30_000));
        }
        assert_eq!(b.expected(Model::Dev, TaskType::Txt2Img), Some(MS(30_000)), "old samples age out");
        b.record(Model::Dev, TaskType::Txt2Img, Duration::ZERO);
        assert_eq!(b.expected(Model::Dev, TaskType::Txt2Img), Some(MS(30_000)), "zero is ignored");
    }
}
