//! Whether a sandbox is in use, from the cloud's own signals, for the idle stop:
//!
//! - the instances' `CPUUtilization` (`AWS/EC2`, the highest of each 5 minutes): a VM working
//!   (an integration run, a batch, a user on the desktop) is above [`CPU_BUSY`] percent;
//! - the ALB's `RequestCountPerTarget` for the sandbox's target group (`AWS/ApplicationELB`,
//!   summed per minute): a person or a client using the web application or the REST API.
//!
//! Both are free (EC2's basic monitoring, the load balancer's own metrics) and need no agent on
//! the VMs; the streaming fleet and AMQ traffic on the NLB are not counted (the first has no
//! per-sandbox metric, the second would need the NLB's per-target-group flow counts).

use crate::account::AccountClients;
use crate::error::{AwsError, sdk};
use crate::tags::Owner;
use aws_sdk_cloudwatch::primitives::DateTime as AwsTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Utc};

/// Above this CPU percentage an instance is working.
pub const CPU_BUSY: f64 = 5.0;

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

/// The last time in `[from, to)` the sandbox was in use, by either signal; `None` when it was
/// not (or has no instance and no target group).
pub async fn last_active(
    clients: &AccountClients,
    owner: &Owner,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AwsError> {
    let Owner::Sandbox { tenant, sandbox } = owner else {
        return Ok(None);
    };
    let instances = crate::instances::find(clients.ec2(), owner).await?;
    let groups = crate::ingress::target_groups(clients, tenant, sandbox).await?;
    let mut queries = Vec::new();
    for (i, vm) in instances.iter().enumerate() {
        queries.push(query(
            format!("cpu{i}"),
            "AWS/EC2",
            "CPUUtilization",
            ("InstanceId", &vm.id),
            300,
            "Maximum",
        ));
    }
    for (i, arn) in groups.iter().enumerate() {
        // The dimension is the ARN's resource part: `targetgroup/<name>/<id>`.
        let Some(group) = arn
            .split_once(":targetgroup/")
            .map(|(_, rest)| format!("targetgroup/{rest}"))
        else {
            continue;
        };
        queries.push(query(
            format!("requests{i}"),
            "AWS/ApplicationELB",
            "RequestCountPerTarget",
            ("TargetGroup", &group),
            60,
            "Sum",
        ));
    }
    if queries.is_empty() {
        return Ok(None);
    }
    let cloudwatch = sbx_transient::client!(aws_sdk_cloudwatch, &clients.config);
    let mut last: Option<DateTime<Utc>> = None;
    let mut token = None;
    loop {
        let output = cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(AwsTime::from_millis(from.timestamp_millis()))
            .end_time(AwsTime::from_millis(to.timestamp_millis()))
            .set_next_token(token)
            .send()
            .await
            .map_err(sdk("GetMetricData"))?;
        for result in output.metric_data_results() {
            let cpu = result.id().is_some_and(|id| id.starts_with("cpu"));
            for (at, value) in result.timestamps().iter().zip(result.values()) {
                let busy = if cpu { *value > CPU_BUSY } else { *value > 0.0 };
                let at = DateTime::from_timestamp_millis(at.to_millis().unwrap_or_default());
                if busy && let Some(at) = at {
                    last = last.max(Some(at));
                }
            }
        }
        token = output.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(last);
        }
    }
}
