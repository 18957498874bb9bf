//! When a delivery is tried again: the Standard Webhooks schedule (at once, then after 5 s,
//! 5 min, 30 min, 2 h, 5 h, 10 h and 10 h), eight attempts over 27 h 35 min; after the last
//! failure the delivery is given up (and may be redelivered by hand).

/// Seconds to wait before attempt `n + 1` after `n` failed attempts (index `n - 1`).
pub const BACKOFF_SECONDS: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// How many attempts a delivery gets.
pub const ATTEMPTS: u32 = BACKOFF_SECONDS.len() as u32 + 1;

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Try again after this many seconds.
    Retry(u64),
    GiveUp,
}

/// What follows the `attempts`-th attempt (counted from 1), which succeeded or not.
pub fn after(attempts: u32, succeeded: bool) -> Next {
    if succeeded {
        return Next::Delivered;
    }
    match BACKOFF_SECONDS.get(attempts.saturating_sub(1) as usize) {
        Some(&seconds) => Next::Retry(seconds),
        None => Next::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_retried_for_more_than_a_day_then_given_up() {
        assert_eq!(after(1, true), Next::Delivered);
        assert_eq!(after(1, false), Next::Retry(5));
        assert_eq!(after(2, false), Next::Retry(300));
        assert_eq!(after(7, false), Next::Retry(36_000));
        assert_eq!(after(8, false), Next::GiveUp);
        assert_eq!(ATTEMPTS, 8);
        assert!(BACKOFF_SECONDS.iter().sum::<u64>() > 24 * 3600);
    }
}
