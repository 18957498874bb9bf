//! Whether a sandbox is in use, from the cloud's own signals, for the idle stop:
//!
//! - the instances' `CPUUtilization` (`AWS/EC2`, the highest of each 5 minutes): a VM working
//!   (an integration run, a batch, a user on the desktop) is above [`CPU_BUSY`] percent;
//! - the ALB's `RequestCountPerTarget` for the sandbox's target group (`AWS/ApplicationELB`,
//!   summed per minute): a person or a client using the web application or the REST API;
//! - for a sandbox with AMQ, the account's NLB's `ActiveFlowCount` (`AWS/NetworkELB`): the NLB
//!   reports flows per load balancer only, not per target group, so a connection to any
//!   sandbox's AMQ counts as use of every sandbox with AMQ in the account;
//! - for a sandbox with Smart Client, the streaming fleet's `InUseCapacity` (`AWS/AppStream`):
//!   sessions are per user, not per sandbox, so a session counts as use of every sandbox with
//!   Smart Client in the account.
//!
//! All are free (EC2's basic monitoring, the services' own metrics) and need no agent on the
//! VMs. The load balancers and the fleet report nothing while nothing flows, so their silence
//! is no use. EC2 reports every running instance's CPU, 5-minute periods that arrive some
//! minutes late: a sandbox is idle only when every instance's CPU was reported for the whole
//! window (up to [`REPORT_LAG`] before its end), and never for want of data ([`Use::Unknown`]).

use crate::account::AccountClients;
use crate::error::{AwsError, sdk};
use crate::tags::Owner;
use aws_sdk_cloudwatch::primitives::DateTime as AwsTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// Above this CPU percentage an instance is working.
pub const CPU_BUSY: f64 = 5.0;
/// EC2's basic monitoring period.
pub const CPU_PERIOD: Duration = Duration::minutes(5);
/// How late EC2's basic monitoring data may arrive: the last this much of a window is not
/// required to be reported (use in it still counts when it is).
pub const REPORT_LAG: Duration = Duration::minutes(10);

/// What the cloud's signals say of a sandbox's use over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Use {
    /// In use; the last time a signal showed it.
    Busy(DateTime<Utc>),
    /// In use by no signal, with every instance's CPU reported for the whole window.
    Idle,
    /// Not known: why (an instance's CPU not reported for part of the window, no instance).
    Unknown(String),
}

/// The sandbox's options that add signals shared with other sandboxes of its account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shared {
    pub amq: bool,
    pub smart_client: bool,
}

/// What one signal reported: `(time, value)` points.
pub type Points = Vec<(DateTime<Utc>, f64)>;

/// The readings over a window, per signal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Readings {
    /// Each instance's CPU (highest per 5 minutes).
    pub cpu: BTreeMap<String, Points>,
    /// Counts of use by other signals (requests, AMQ flows, streaming sessions): above 0 is use.
    pub other: BTreeMap<String, Points>,
}

/// Judges `readings` over `[from, to)`: busy at the last point of use; idle when nothing was in
/// use and every instance's CPU covers each 5-minute period from `from` to `to` less
/// [`REPORT_LAG`]; unknown otherwise.
pub fn judge(readings: &Readings, from: DateTime<Utc>, to: DateTime<Utc>) -> Use {
    let in_window = |points: &Points| {
        points
            .iter()
            .filter(move |(at, _)| *at >= from - CPU_PERIOD && *at < to)
            .copied()
            .collect::<Vec<_>>()
    };
    let mut last = None;
    for points in readings.cpu.values() {
        for (at, value) in in_window(points) {
            if value > CPU_BUSY {
                last = last.max(Some(at));
            }
        }
    }
    for points in readings.other.values() {
        for (at, value) in in_window(points) {
            if value > 0.0 {
                last = last.max(Some(at));
            }
        }
    }
    if let Some(at) = last {
        return Use::Busy(at);
    }
    if readings.cpu.is_empty() {
        return Use::Unknown("no instance reports its CPU".into());
    }
    // Each 5-minute period that must be reported: those starting from the one `from` is in, up
    // to the last that has ended `REPORT_LAG` before `to`.
    let period = CPU_PERIOD.num_seconds();
    let first = aligned(from);
    let settled = (to - REPORT_LAG).timestamp();
    for (instance, points) in &readings.cpu {
        let mut start = first;
        while start + period <= settled {
            let covered = points.iter().any(|(at, _)| {
                let t = at.timestamp();
                t >= start && t < start + period
            });
            if !covered {
                let missing = DateTime::from_timestamp(start, 0).unwrap_or(from);
                return Use::Unknown(format!(
                    "the CPU of {instance} is not reported for the 5 minutes from {}",
                    missing.format("%Y-%m-%dT%H:%M:%SZ")
                ));
            }
            start += period;
        }
    }
    Use::Idle
}

/// The start, in seconds, of the 5-minute period `at` falls in.
fn aligned(at: DateTime<Utc>) -> i64 {
    let period = CPU_PERIOD.num_seconds();
    at.timestamp().div_euclid(period) * period
}

fn query(
    id: String,
    namespace: &str,
    name: &str,
    dimension: (&str, &str),
    period: i32,
    stat: &str,
) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(name)
        .dimensions(Dimension::builder().name(dimension.0).value(dimension.1).build())
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// The account's NLB's metric dimension (`net/<name>/<id>`), when it has one.
async fn nlb_dimension(clients: &AccountClients) -> Result<Option<String>, AwsError> {
    let result = clients
        .elb()
        .describe_load_balancers()
        .names(crate::infra::NLB_NAME)
        .send()
        .await
        .map_err(sdk("DescribeLoadBalancers"));
    Ok(
        crate::error::gone(result, &["LoadBalancerNotFound"])?.and_then(|out| {
            out.load_balancers()
                .first()
                .and_then(|lb| lb.load_balancer_arn())
                .and_then(|arn| arn.split_once(":loadbalancer/"))
                .map(|(_, rest)| rest.to_owned())
        }),
    )
}

/// The sandbox's use over `[from, to)`, by every signal it has.
pub async fn sandbox_use(
    clients: &AccountClients,
    owner: &Owner,
    shared: Shared,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Use, AwsError> {
    let Owner::Sandbox { tenant, sandbox } = owner else {
        return Ok(Use::Unknown("not a sandbox".into()));
    };
    let instances = crate::instances::find(clients.ec2(), owner).await?;
    let groups = crate::ingress::target_groups(clients, tenant, sandbox).await?;
    // Query ids are letters, digits and `_`, starting with a lower-case letter.
    let mut queries = Vec::new();
    let mut names = BTreeMap::new();
    for (i, vm) in instances.iter().enumerate() {
        let id = format!("cpu{i}");
        names.insert(id.clone(), vm.id.clone());
        queries.push(query(
            id,
            "AWS/EC2",
            "CPUUtilization",
            ("InstanceId", &vm.id),
            300,
            "Maximum",
        ));
    }
    for (i, arn) in groups.iter().enumerate() {
        // The dimension is the ARN's resource part: `targetgroup/<name>/<id>`. (The AMQ target
        // group is the NLB's, which reports no requests: its flows are read below.)
        let Some(group) = arn
            .split_once(":targetgroup/")
            .map(|(_, rest)| format!("targetgroup/{rest}"))
        else {
            continue;
        };
        let id = format!("requests{i}");
        names.insert(id.clone(), group.clone());
        queries.push(query(
            id,
            "AWS/ApplicationELB",
            "RequestCountPerTarget",
            ("TargetGroup", &group),
            60,
            "Sum",
        ));
    }
    if shared.amq
        && let Some(nlb) = nlb_dimension(clients).await?
    {
        names.insert("amq".into(), nlb.clone());
        queries.push(query(
            "amq".into(),
            "AWS/NetworkELB",
            "ActiveFlowCount",
            ("LoadBalancer", &nlb),
            60,
            "Maximum",
        ));
    }
    if shared.smart_client {
        names.insert("streaming".into(), crate::streaming::FLEET.into());
        queries.push(query(
            "streaming".into(),
            "AWS/AppStream",
            "InUseCapacity",
            ("Fleet", crate::streaming::FLEET),
            60,
            "Maximum",
        ));
    }
    let mut readings = Readings::default();
    for id in names.keys().filter(|id| id.starts_with("cpu")) {
        readings.cpu.insert(names[id].clone(), Points::new());
    }
    if queries.is_empty() {
        return Ok(judge(&readings, from, to));
    }
    let cloudwatch = sbx_transient::client!(aws_sdk_cloudwatch, &clients.config);
    let mut token = None;
    loop {
        let output = cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            // From the start of the 5 minutes before the one `from` falls in, so that the
            // periods are CloudWatch's own (aligned to the clock) and the first is whole.
            .start_time(AwsTime::from_secs(aligned(from) - CPU_PERIOD.num_seconds()))
            .end_time(AwsTime::from_millis(to.timestamp_millis()))
            .set_next_token(token)
            .send()
            .await
            .map_err(sdk("GetMetricData"))?;
        for result in output.metric_data_results() {
            let Some(id) = result.id() else { continue };
            let Some(name) = names.get(id) else { continue };
            let points = result
                .timestamps()
                .iter()
                .zip(result.values())
                .filter_map(|(at, value)| {
                    DateTime::from_timestamp_millis(at.to_millis().ok()?).map(|at| (at, *value))
                });
            let signal = if id.starts_with("cpu") {
                &mut readings.cpu
            } else {
                &mut readings.other
            };
            signal.entry(name.clone()).or_default().extend(points);
        }
        token = output.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(judge(&readings, from, to));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default() + Duration::minutes(minutes)
    }

    /// A point every 5 minutes from `from` to `to` minutes, of `value`.
    fn every_five(from: i64, to: i64, value: f64) -> Points {
        (from..to).step_by(5).map(|m| (at(m), value)).collect()
    }

    fn cpu(points: &[(&str, Points)]) -> Readings {
        Readings {
            cpu: points
                .iter()
                .map(|(id, p)| ((*id).to_owned(), p.clone()))
                .collect(),
            other: BTreeMap::new(),
        }
    }

    #[test]
    fn low_cpu_reported_for_the_whole_window_is_idle() {
        // A 30-minute window: its periods up to 10 minutes before its end must be reported.
        let readings = cpu(&[
            ("i-acp", every_five(0, 20, 1.0)),
            ("i-ocp", every_five(0, 20, 2.5)),
        ]);
        assert_eq!(judge(&readings, at(0), at(30)), Use::Idle);
    }

    #[test]
    fn no_data_is_unknown_never_idle() {
        // Nothing reported at all (a lag, an instance without monitoring data).
        let none = cpu(&[("i-acp", Vec::new())]);
        assert!(matches!(judge(&none, at(0), at(30)), Use::Unknown(why) if why.contains("i-acp")));
        // One period missing in the middle.
        let mut gap = every_five(0, 20, 1.0);
        gap.remove(2);
        let readings = cpu(&[("i-acp", every_five(0, 20, 1.0)), ("i-ocp", gap)]);
        assert!(
            matches!(judge(&readings, at(0), at(30)), Use::Unknown(why) if why.contains("i-ocp")),
            "{:?}",
            judge(&readings, at(0), at(30))
        );
        // Only the first half of the window reported: the data must cover it.
        let half = cpu(&[("i-acp", every_five(0, 10, 1.0))]);
        assert!(matches!(judge(&half, at(0), at(30)), Use::Unknown(_)));
        // No instance at all.
        assert!(matches!(
            judge(&Readings::default(), at(0), at(30)),
            Use::Unknown(_)
        ));
    }

    #[test]
    fn the_last_minutes_may_be_late_but_use_in_them_counts() {
        // Reported up to 20 minutes into a 30-minute window: the rest may still be on its way.
        let readings = cpu(&[("i-acp", every_five(0, 20, 1.0))]);
        assert_eq!(judge(&readings, at(0), at(30)), Use::Idle);
        let mut late = every_five(0, 20, 1.0);
        late.push((at(25), 80.0));
        let readings = cpu(&[("i-acp", late)]);
        assert_eq!(judge(&readings, at(0), at(30)), Use::Busy(at(25)));
    }

    #[test]
    fn cpu_requests_amq_flows_and_sessions_are_use() {
        let quiet = every_five(0, 30, 1.0);
        let busy_cpu = cpu(&[("i-acp", quiet.clone()), ("i-ocp", every_five(0, 30, 40.0))]);
        assert_eq!(judge(&busy_cpu, at(0), at(30)), Use::Busy(at(25)));
        for signal in [
            "targetgroup/sbx-acme-sb1/abc",
            "net/sbx-nlb/def",
            "sbx-smart-client",
        ] {
            let mut readings = cpu(&[("i-acp", quiet.clone())]);
            readings.other.insert(signal.into(), vec![(at(12), 1.0)]);
            assert_eq!(judge(&readings, at(0), at(30)), Use::Busy(at(12)), "{signal}");
            // A zero (a flow count that fell to none) is no use.
            readings.other.insert(signal.into(), vec![(at(12), 0.0)]);
            assert_eq!(judge(&readings, at(0), at(30)), Use::Idle, "{signal}");
        }
        // Use before the window is not use in it.
        let mut readings = cpu(&[("i-acp", quiet)]);
        readings
            .other
            .insert("net/sbx-nlb/def".into(), vec![(at(-20), 3.0)]);
        assert_eq!(judge(&readings, at(0), at(30)), Use::Idle);
    }
}
