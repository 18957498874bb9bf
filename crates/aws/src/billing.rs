//! What AWS billed each tenant (its *billed spend*, in the words of `docs/spend.md`): Cost
//! Explorer's figures by the `sbx:tenant` cost-allocation tag (activated in the payer account's
//! Billing console; Cost Explorer's data lags about a day). The daily drift check compares it
//! with the spend sbx metered. GetCostAndUsage costs $0.01 a
//! request: it is asked once a day, for the month so far, one page at a time.

use crate::error::AwsError;
use crate::tags;
use aws_sdk_costexplorer::types::{
    DateInterval, Granularity, GroupDefinition, GroupDefinitionType, ResultByTime,
};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::future::Future;

/// The metric compared: what the resources cost before credits and discounts, as the price
/// table prices them.
const METRIC: &str = "UnblendedCost";

/// The key of the costs that carry no `sbx:tenant` tag.
pub const UNTAGGED: &str = "";

/// Billed spend per tenant, as a billing report (Cost Explorer) has it.
pub trait Billing: Send + Sync {
    /// Each tenant's billed spend from `first` to `end` (exclusive), in dollars; what carries no
    /// tenant tag under [`UNTAGGED`].
    fn by_tenant(
        &self,
        first: NaiveDate,
        end: NaiveDate,
    ) -> impl Future<Output = Result<BTreeMap<String, f64>, AwsError>> + Send;
}

impl Billing for aws_sdk_costexplorer::Client {
    async fn by_tenant(&self, first: NaiveDate, end: NaiveDate) -> Result<BTreeMap<String, f64>, AwsError> {
        let period = DateInterval::builder()
            .start(first.format("%Y-%m-%d").to_string())
            .end(end.format("%Y-%m-%d").to_string())
            .build()
            .map_err(|e| AwsError::Missing(format!("the period: {e}")))?;
        let mut totals = BTreeMap::new();
        let mut token = None;
        loop {
            let page = self
                .get_cost_and_usage()
                .time_period(period.clone())
                .granularity(Granularity::Monthly)
                .metrics(METRIC)
                .group_by(
                    GroupDefinition::builder()
                        .r#type(GroupDefinitionType::Tag)
                        .key(tags::TENANT)
                        .build(),
                )
                .set_next_page_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetCostAndUsage", e))?;
            add_groups(&mut totals, page.results_by_time())?;
            match page.next_page_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(totals),
            }
        }
    }
}

/// Adds each group's cost to its tenant's. A group's key is `sbx:tenant$<value>` (`$` and
/// nothing for untagged costs). An amount that is missing or not a finite number refuses the
/// whole report: counting it as $0 would show a tenant's billed spend as nothing, and the
/// drift check would call the meter wrong.
pub fn add_groups(totals: &mut BTreeMap<String, f64>, results: &[ResultByTime]) -> Result<(), AwsError> {
    for group in results.iter().flat_map(|r| r.groups()) {
        let Some(key) = group.keys().first() else {
            continue;
        };
        let tenant = key.split_once('$').map_or(key.as_str(), |(_, value)| value);
        let text = group
            .metrics()
            .and_then(|m| m.get(METRIC))
            .and_then(|m| m.amount());
        let amount = text
            .and_then(|a| a.trim().parse::<f64>().ok())
            .filter(|a| a.is_finite())
            .ok_or_else(|| AwsError::Api {
                operation: "GetCostAndUsage",
                code: "UnreadableAmount".into(),
                message: format!(
                    "the {METRIC} of {key:?} is {}, not an amount",
                    text.map_or("missing".to_owned(), |t| format!("{t:?}"))
                ),
                transient: false,
            })?;
        *totals.entry(tenant.to_owned()).or_default() += amount;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_costexplorer::types::{Group, MetricValue};

    fn group(key: &str, amount: &str) -> Group {
        Group::builder()
            .keys(key)
            .metrics(METRIC, MetricValue::builder().amount(amount).unit("USD").build())
            .build()
    }

    #[test]
    fn groups_are_read_per_tenant_and_untagged_costs_kept_apart() {
        let results = [
            ResultByTime::builder()
                .groups(group("sbx:tenant$acme", "12.3456"))
                .groups(group("sbx:tenant$", "3.5"))
                .build(),
            // A second page of the same month.
            ResultByTime::builder()
                .groups(group("sbx:tenant$acme", "0.6544"))
                .build(),
        ];
        let mut totals = BTreeMap::new();
        add_groups(&mut totals, &results).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(totals.len(), 2);
        assert!((totals["acme"] - 13.0).abs() < 1e-9, "{totals:?}");
        assert!((totals[UNTAGGED] - 3.5).abs() < 1e-9);
    }

    #[test]
    fn an_unreadable_amount_is_an_error_not_nothing() {
        for amount in ["not a number", "", "NaN", "inf"] {
            let results = [ResultByTime::builder()
                .groups(group("sbx:tenant$acme", "1.5"))
                .groups(group("sbx:tenant$globex", amount))
                .build()];
            let refused = add_groups(&mut BTreeMap::new(), &results);
            assert!(
                matches!(&refused, Err(AwsError::Api { message, .. }) if message.contains("sbx:tenant$globex")),
                "{amount:?}: {refused:?}"
            );
        }
        let results = [ResultByTime::builder()
            .groups(Group::builder().keys("sbx:tenant$acme").build())
            .build()];
        assert!(add_groups(&mut BTreeMap::new(), &results).is_err());
    }
}
