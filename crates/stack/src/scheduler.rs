//! The garbage collector's schedule, run by the local stack as EventBridge Scheduler runs it
//! on AWS: the template's `GcSchedule` expression (`rate(15 minutes)` by default), one sweep
//! per tick, each under the tick's own execution name so that a tick never sweeps twice.

use sbx_sfn_local::Service;
use sbx_store::schema::TEMPLATE;
use std::time::Duration;

/// The interval of the template's `GcSchedule` default.
pub fn template_interval() -> Result<Duration, String> {
    let template: serde_yaml::Value =
        serde_yaml::from_str(TEMPLATE).map_err(|e| format!("infra/template.yaml: {e}"))?;
    let expression = template["Parameters"]["GcSchedule"]["Default"]
        .as_str()
        .ok_or("infra/template.yaml has no GcSchedule default")?;
    parse_rate(expression)
}

/// `rate(15 minutes)` → 15 min. Only rate expressions are run locally.
pub fn parse_rate(expression: &str) -> Result<Duration, String> {
    let invalid = || format!("{expression:?} is not a rate expression such as rate(15 minutes)");
    let inner = expression
        .trim()
        .strip_prefix("rate(")
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(invalid)?;
    let (value, unit) = inner.trim().split_once(' ').ok_or_else(invalid)?;
    let value: u64 = value.parse().map_err(|_| invalid())?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return Err(invalid()),
    };
    if value == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(value * seconds))
}

/// The execution name of the tick at `unix_seconds`, on a schedule of `every`.
pub fn tick_name(unix_seconds: u64, every: Duration) -> String {
    let every = every.as_secs().max(1);
    format!("gc-{}", unix_seconds / every * every)
}

/// Starts a sweep on every tick of `every` until the task is aborted.
pub fn spawn(service: Service, state_machine_arn: String, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let name = tick_name(now, every);
            match service.start_execution(&state_machine_arn, Some(&name), Some("{}")) {
                Ok(execution) => tracing::info!(execution = %execution.arn, "scheduled sweep started"),
                Err(err) => tracing::warn!(%err, execution = %name, "the scheduled sweep was not started"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_schedule_is_a_rate_the_stack_can_run() {
        assert_eq!(template_interval(), Ok(Duration::from_secs(900)));
        assert_eq!(parse_rate("rate(1 hour)"), Ok(Duration::from_secs(3600)));
        for bad in [
            "cron(0 * * * ? *)",
            "rate(0 minutes)",
            "rate(5 weeks)",
            "rate(x minutes)",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_name_per_tick() {
        let every = Duration::from_secs(900);
        assert_eq!(tick_name(1_800, every), tick_name(2_699, every));
        assert_ne!(tick_name(2_699, every), tick_name(2_700, every));
    }
}
