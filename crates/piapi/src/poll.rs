//! How often to ask PiAPI whether a task has finished, and what the poller reports meanwhile.
//!
//! Contract: [`PollPolicy::delay_for`] is a pure function of the policy, the attempt number and the
//! random source. The first check happens at once; after check `n` the poller waits
//! `first_delay × multiplier^(n-1)` with ±`jitter` noise, and the wait never exceeds `interval_cap`
//! (jitter included). `PIAPI_POLL_MAX_ATTEMPTS` / `PIAPI_POLL_INTERVAL_MS` map onto
//! `max_attempts` / `interval_cap` through [`PollPolicy::with_env_values`].
//!
//! When the caller knows roughly how long the task takes ([`PollPolicy::expecting`], e.g. from the
//! durations of the last tasks of the same kind), the poller sleeps through the part of that time
//! the task is very unlikely to finish in ([`LEAD_FRACTION`] of it) before the first check, and then
//! ramps up from a short wait proportional to the expected duration. That keeps the notice latency
//! small without spending GETs while the task is certainly still running. The lead is not bounded
//! by `interval_cap` (which bounds the waits *between* checks).

use std::time::Duration;

use rand::Rng;

/// Backoff schedule for `Client::poll_until_done`.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    /// Number of GETs before giving up with `Error::Timeout` (at least 1 is always made).
    pub max_attempts: u32,
    /// The longest wait between two checks (jitter included).
    pub interval_cap: Duration,
    /// The wait after the first check.
    pub first_delay: Duration,
    /// Growth factor per check (values below 1 or non-finite are treated as 1).
    pub multiplier: f64,
    /// Relative noise, e.g. 0.2 = ±20 % (clamped to 0..=1).
    pub jitter: f64,
    /// How long the task is expected to take from now, if known (see the module docs).
    pub expected: Option<Duration>,
}

/// Share of the expected duration slept through before the first check.
pub const LEAD_FRACTION: f64 = 0.95;
/// After the lead, the first wait is this share of the expected duration (never more than
/// `first_delay`, never less than [`MIN_RAMP_DELAY`]).
pub const RAMP_FRACTION: f64 = 0.03;
/// Floor of the first wait after the lead.
pub const MIN_RAMP_DELAY: Duration = Duration::from_millis(10);

/// Defaults: 30 checks, waits of 400 ms growing ×1.5 up to 3 s, ±20 % jitter.
impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            max_attempts: 30,
            interval_cap: Duration::from_millis(3000),
            first_delay: Duration::from_millis(400),
            multiplier: 1.5,
            jitter: 0.2,
            expected: None,
        }
    }
}

impl PollPolicy {
    /// The default policy with the familiar environment overrides applied:
    /// `PIAPI_POLL_MAX_ATTEMPTS` (number of checks) and `PIAPI_POLL_INTERVAL_MS` (the cap on the
    /// wait between checks). A zero attempt count is raised to 1; the first wait never exceeds the cap.
    pub fn with_env_values(max_attempts: Option<u32>, interval_ms: Option<u64>) -> Self {
        let mut p = PollPolicy::default();
        if let Some(n) = max_attempts {
            p.max_attempts = n.max(1);
        }
        if let Some(ms) = interval_ms {
            p.interval_cap = Duration::from_millis(ms);
            p.first_delay = p.first_delay.min(p.interval_cap);
        }
        p
    }

    /// A fixed schedule: wait `interval` between checks, `attempts` checks in all, no jitter
    /// (e.g. the common "every 3 s, 30 attempts").
    pub fn fixed(interval: Duration, attempts: u32) -> Self {
        PollPolicy {
            max_attempts: attempts.max(1),
            interval_cap: interval,
            first_delay: interval,
            multiplier: 1.0,
            jitter: 0.0,
            expected: None,
        }
    }

    /// This policy for a task expected to take `expected` from now (`None`: unknown, poll from
    /// the start). A zero or negative remaining time also means "poll from the start".
    #[must_use]
    pub fn expecting(mut self, expected: Option<Duration>) -> Self {
        self.expected = expected.filter(|d| !d.is_zero());
        self
    }

    /// The wait before the first check: zero, or the lead when the duration is expected.
    pub fn lead(&self) -> Duration {
        match self.expected {
            Some(e) => e.mul_f64(LEAD_FRACTION),
            None => Duration::ZERO,
        }
    }

    /// The wait after check number `attempt` (1-based) before the next one. `attempt == 0`
    /// (before the first check) is [`PollPolicy::lead`]. Never exceeds `interval_cap` otherwise.
    pub fn delay_for<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        if attempt == 0 {
            return self.lead();
        }
        let first_delay = match self.expected {
            Some(e) => self.first_delay.min(e.mul_f64(RAMP_FRACTION).max(MIN_RAMP_DELAY)),
            None => self.first_delay,
        };
        let cap = self.interval_cap.as_secs_f64();
        let multiplier =
            if self.multiplier.is_finite() && self.multiplier >= 1.0 { self.multiplier } else { 1.0 };
        let jitter = if self.jitter.is_finite() { self.jitter.clamp(0.0, 1.0) } else { 0.0 };
        let exponent = i32::try_from(attempt - 1).unwrap_or(i32::MAX);
        let base = (first_delay.as_secs_f64() * multiplier.powi(exponent)).min(cap);
        let noise = if jitter > 0.0 { rng.random_range(-jitter..=jitter) } else { 0.0 };
        let secs = base * (1.0 + noise);
        if !secs.is_finite() || secs <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(secs.min(cap)).unwrap_or(self.interval_cap).min(self.interval_cap)
    }
}

/// What the poller reports while it waits.
#[derive(Debug, Clone)]
pub enum PollEvent {
    /// A GET succeeded; `task` is what PiAPI reported on check number `attempt`.
    Status { attempt: u32, task: crate::Task },
    /// Check number `attempt` failed in a way worth retrying (5xx, 429, network, unreadable body);
    /// the next check follows in `retry_in`. The task itself is not affected.
    Transient { attempt: u32, error: String, retry_in: Duration },
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn default_matches_the_documented_numbers() {
        let p = PollPolicy::default();
        assert_eq!(p.max_attempts, 30);
        assert_eq!(p.interval_cap, Duration::from_millis(3000));
        assert_eq!(p.first_delay, Duration::from_millis(400));
        assert!((p.multiplier - 1.5).abs() < f64::EPSILON);
        assert!((p.jitter - 0.2).abs() < f64::EPSILON);
    }

    #[test]
    fn env_values_override_attempts_and_cap() {
        let p = PollPolicy::with_env_values(Some(5), Some(1000));
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.interval_cap, Duration::from_millis(1000));
        let p = PollPolicy::with_env_values(Some(0), Some(100));
        assert_eq!(p.max_attempts, 1, "zero attempts would never check");
        assert_eq!(p.first_delay, Duration::from_millis(100), "first wait is capped too");
        assert_eq!(PollPolicy::with_env_values(None, None), PollPolicy::default());
    }

    #[test]
    fn first_check_is_immediate_and_waits_grow_then_cap() {
        let p = PollPolicy { jitter: 0.0, ..PollPolicy::default() };
        let mut rng = StdRng::seed_from_u64(1);
        let ms: Vec<u128> = (0..10).map(|a| p.delay_for(a, &mut rng).as_millis()).collect();
        assert_eq!(ms[..6], [0, 400, 600, 900, 1350, 2025]);
        assert!(ms[6..].iter().all(|&m| m == 3000), "{ms:?}");
    }

    #[test]
    fn jitter_stays_within_bounds_and_never_exceeds_cap() {
        let p = PollPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..200 {
            for _ in 0..50 {
                let d = p.delay_for(attempt, &mut rng);
                assert!(d <= p.interval_cap, "attempt {attempt}: {d:?}");
                if attempt == 1 {
                    assert!(d >= Duration::from_millis(320) && d <= Duration::from_millis(480), "{d:?}");
                }
                if attempt > 10 {
                    assert!(d >= Duration::from_millis(2400), "{d:?}");
                }
            }
        }
    }

    #[test]
    fn jitter_actually_varies_the_wait() {
        let p = PollPolicy::default();
        let mut rng = StdRng::seed_from_u64(3);
        let set: std::collections::BTreeSet<u128> =
            (0..20).map(|_| p.delay_for(2, &mut rng).as_micros()).collect();
        assert!(set.len() > 5);
    }

    #[test]
    fn fixed_policy_is_constant() {
        let p = PollPolicy::fixed(Duration::from_secs(3), 30);
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(p.max_attempts, 30);
        for a in 1..40 {
            assert_eq!(p.delay_for(a, &mut rng), Duration::from_secs(3));
        }
    }

    #[test]
    fn an_expected_duration_leads_then_ramps_from_a_short_wait() {
        let p = PollPolicy { jitter: 0.0, ..PollPolicy::default() }.expecting(Some(Duration::from_secs(20)));
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(p.delay_for(0, &mut rng), Duration::from_secs(19), "95 % of 20 s, beyond the 3 s cap");
        // 3 % of 20 s is 600 ms, more than the 400 ms first delay: the ramp keeps 400 ms.
        assert_eq!(p.delay_for(1, &mut rng), Duration::from_millis(400));
        let short =
            PollPolicy { jitter: 0.0, ..PollPolicy::default() }.expecting(Some(Duration::from_millis(500)));
        assert_eq!(short.delay_for(0, &mut rng), Duration::from_millis(475));
        assert_eq!(short.delay_for(1, &mut rng), Duration::from_millis(15));
        assert!(short.delay_for(20, &mut rng) <= short.interval_cap);
        let tiny = PollPolicy::default().expecting(Some(Duration::from_millis(1)));
        assert!(tiny.delay_for(1, &mut rng) >= MIN_RAMP_DELAY.mul_f64(0.8));
        assert_eq!(PollPolicy::default().expecting(Some(Duration::ZERO)).expected, None);
        assert_eq!(PollPolicy::default().lead(), Duration::ZERO);
    }

    #[test]
    fn hostile_values_do_not_panic() {
        let mut rng = StdRng::seed_from_u64(0);
        for (mult, jit) in [(f64::NAN, f64::NAN), (f64::INFINITY, 5.0), (0.1, -1.0), (1e300, 1.0)] {
            let p = PollPolicy { multiplier: mult, jitter: jit, ..PollPolicy::default() };
            for a in [1, 2, 1000, u32::MAX] {
                assert!(p.delay_for(a, &mut rng) <= p.interval_cap);
            }
        }
        let p = PollPolicy { interval_cap: Duration::ZERO, ..PollPolicy::default() };
        assert_eq!(p.delay_for(3, &mut rng), Duration::ZERO);
        let p = PollPolicy { interval_cap: Duration::MAX, ..PollPolicy::default() };
        assert!(p.delay_for(u32::MAX, &mut rng) > Duration::ZERO);
    }
}
