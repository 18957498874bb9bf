//! `check-drift`: once a day, where the deployment reads Cost Explorer (`SBX_COST_EXPLORER=on`),
//! the month's estimates are compared with what Cost Explorer reports per `sbx:tenant` tag, for
//! the days both cover (the 1st to yesterday: Cost Explorer's data lags about a day). The
//! difference is recorded per tenant (`drift#<month>`, shown by `GET /tenants/{id}/budget`).
//! One sweep a day asks (a conditional claim of the day): GetCostAndUsage is a paid call.

use super::SweepInput;
use crate::config::SweepSettings;
use crate::error::StepError;
use chrono::{Datelike, Duration, Utc};
use sbx_aws::billing::{Billing, UNTAGGED};
use sbx_lifecycle::cost::{self, Usd};
use sbx_store::{Drift, DriftStore, SpendStore};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DriftReport {
    /// Why nothing was compared, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// `acme: estimated $12.30, reported $12.95`.
    pub tenants: Vec<String>,
    /// What Cost Explorer reports without an `sbx:tenant` tag (the tag not activated, or
    /// resources sbx did not tag).
    pub untagged_usd: f64,
}

pub async fn check(
    store: &(impl DriftStore + SpendStore),
    report_source: Option<&impl Billing>,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<DriftReport, StepError> {
    let now = input.now(settings)?;
    let Some(costs) = report_source else {
        return Ok(DriftReport {
            skipped: Some("Cost Explorer is not read by this deployment (SBX_COST_EXPLORER)".into()),
            ..DriftReport::default()
        });
    };
    let today = now.date_naive();
    if today.day() == 1 {
        return Ok(DriftReport {
            skipped: Some("the month has no whole day yet".into()),
            ..DriftReport::default()
        });
    }
    let claimed = today.format("%Y-%m-%d").to_string();
    if !store.claim_drift_check(&claimed).await? {
        return Ok(DriftReport {
            skipped: Some("compared today already".into()),
            ..DriftReport::default()
        });
    }
    let first = today.with_day(1).unwrap_or(today);
    let yesterday = today - Duration::days(1);
    let reported = match costs.by_tenant(first, today).await {
        Ok(reported) => reported,
        Err(err) => {
            // The day is given back: the next sweep (or this one's retry) asks again.
            store.release_drift_check(&claimed).await?;
            return Err(err.into());
        }
    };
    // The tenants either side knows of: those Cost Explorer reports, and those metered now.
    let mut tenants: BTreeSet<String> = reported
        .keys()
        .filter(|t| t.as_str() != UNTAGGED)
        .cloned()
        .collect();
    tenants.extend(
        store
            .open_meters()
            .await?
            .items
            .into_iter()
            .map(|m| m.sandbox.tenant),
    );
    let month = cost::month_of(now);
    let mut out = DriftReport {
        untagged_usd: reported.get(UNTAGGED).copied().unwrap_or_default(),
        ..DriftReport::default()
    };
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    for tenant in tenants {
        let estimated = store.days_spend(&tenant, &day(first), &day(yesterday)).await?;
        let reported_usd = Usd(cost::micros(reported.get(&tenant).copied().unwrap_or_default()));
        let drift = Drift {
            month: month.clone(),
            through: day(today),
            reported_usd,
            estimated_usd: estimated,
            checked_at: Utc::now(),
        };
        store.put_drift(&tenant, &drift).await?;
        tracing::info!(%tenant, estimated = %estimated, reported = %reported_usd, "drift recorded");
        super::note(
            &mut out.tenants,
            format!("{tenant}: estimated {estimated}, reported {reported_usd}"),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::test_settings;
    use sbx_aws::AwsError;
    use sbx_fakes::FakeStore;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A report with fixed figures that remembers the periods it was asked for.
    #[derive(Default)]
    struct Report {
        figures: BTreeMap<String, f64>,
        asked: Mutex<Vec<(chrono::NaiveDate, chrono::NaiveDate)>>,
    }

    impl Billing for Report {
        async fn by_tenant(
            &self,
            first: chrono::NaiveDate,
            end: chrono::NaiveDate,
        ) -> Result<BTreeMap<String, f64>, AwsError> {
            self.asked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((first, end));
            Ok(self.figures.clone())
        }
    }

    fn input(at: &str) -> SweepInput {
        SweepInput {
            execution: "arn:gc:1".into(),
            as_of: Some(at.parse().unwrap_or_else(|e| panic!("{e}"))),
        }
    }

    #[tokio::test]
    async fn the_days_both_cover_are_compared_once_a_day() {
        let store = FakeStore::default();
        {
            let mut days = store.day_spend.lock().unwrap_or_else(|p| p.into_inner());
            days.insert(("acme".into(), "2026-12-03".into()), 4_000_000);
            days.insert(("acme".into(), "2026-12-04".into()), 5_000_000);
            // Today's is not compared: Cost Explorer has not got it yet.
            days.insert(("acme".into(), "2026-12-05".into()), 9_000_000);
        }
        let report = Report {
            figures: BTreeMap::from([("acme".to_owned(), 9.75), (String::new(), 1.25)]),
            ..Report::default()
        };
        let settings = test_settings(true);
        let out = check(&store, Some(&report), &settings, input("2026-12-05T06:00:00Z"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.tenants, ["acme: estimated $9.00, reported $9.75"]);
        assert_eq!(out.untagged_usd, 1.25);
        let asked = report.asked.lock().map(|a| a.clone()).unwrap_or_default();
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].0.to_string(), "2026-12-01");
        assert_eq!(asked[0].1.to_string(), "2026-12-05", "the end is exclusive");
        let drift = store.drift("acme", "2026-12").await.ok().flatten();
        assert_eq!(
            drift.map(|d| (d.estimated_usd, d.reported_usd)),
            Some((Usd(9_000_000), Usd(9_750_000)))
        );

        // Later the same day: not asked again.
        let again = check(&store, Some(&report), &settings, input("2026-12-05T18:00:00Z"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.skipped.as_deref(), Some("compared today already"));
        assert_eq!(report.asked.lock().map(|a| a.len()).unwrap_or_default(), 1);
    }

    struct Failing;

    impl Billing for Failing {
        async fn by_tenant(
            &self,
            _: chrono::NaiveDate,
            _: chrono::NaiveDate,
        ) -> Result<BTreeMap<String, f64>, AwsError> {
            Err(AwsError::Unreachable {
                operation: "GetCostAndUsage",
                message: "connection reset".into(),
            })
        }
    }

    #[tokio::test]
    async fn a_failed_comparison_gives_the_day_back() {
        let store = FakeStore::default();
        let settings = test_settings(true);
        let failed = check(&store, Some(&Failing), &settings, input("2026-12-05T06:00:00Z")).await;
        assert!(failed.is_err());
        let report = Report::default();
        let retried = check(&store, Some(&report), &settings, input("2026-12-05T06:01:00Z"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(retried.skipped, None, "asked again");
        assert_eq!(report.asked.lock().map(|a| a.len()).unwrap_or_default(), 1);
    }

    #[tokio::test]
    async fn without_cost_explorer_nothing_is_asked() {
        let store = FakeStore::default();
        let out = check(
            &store,
            None::<&Report>,
            &test_settings(true),
            input("2026-12-05T06:00:00Z"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.skipped.is_some_and(|s| s.contains("SBX_COST_EXPLORER")));
    }
}
