//! What sandboxes cost, from what sbx launched and for how long (SPEC: Spend).
//!
//! A sandbox pays, per hour, for its two VMs while they run (initializing, starting, started,
//! stopping), for their volumes until it is deleted, and for a share of its account's shared
//! infrastructure while it is active: the NAT gateway and its address, the ALB and the proxies
//! split among the account's active sandboxes, the NLB among the active ones with `amq`, the
//! streaming fleet among the active ones with `smart_client`. Prices come from a
//! [`PriceTable`]: the pinned, dated `infra/prices.json` unless a deployment gives another.
//! Money is counted in micro-dollars ([`Micros`]), so that sums are exact.

use crate::{InstanceSize, SandboxOptions, State, rfc3339_millis};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An amount of US dollars in millionths.
pub type Micros = u64;

/// Micro-dollars as dollars.
pub fn usd(micros: Micros) -> f64 {
    micros as f64 / 1e6
}

/// Dollars as micro-dollars, to the nearest one; negative and non-finite amounts are none.
pub fn micros(usd: f64) -> Micros {
    if usd.is_finite() && usd > 0.0 {
        (usd * 1e6).round() as Micros
    } else {
        0
    }
}

/// The two VMs of a sandbox.
pub const ROLES: [&str; 2] = ["acp", "ocp"];

/// The instance type of each role for a size.
pub fn instance_type(size: InstanceSize, role: &str) -> &'static str {
    match (size, role) {
        (InstanceSize::Small, _) => "t3.medium",
        (InstanceSize::Medium, "acp") => "m5.xlarge",
        (InstanceSize::Medium, _) => "m5.large",
        (InstanceSize::Large, "acp") => "m5.2xlarge",
        (InstanceSize::Large, _) => "m5.xlarge",
    }
}

/// The gp3 root volume of each role, in GiB: the sandbox images' own (sbx launches them
/// with their images' block device mappings).
pub fn volume_gb(role: &str) -> u32 {
    match role {
        "acp" => 100,
        _ => 50,
    }
}

/// How many hours a month has, as AWS bills per-month prices by the hour.
const HOURS_PER_MONTH: f64 = 730.0;

/// Prices in USD, from one source and as of one date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    pub as_of: String,
    pub region: String,
    pub source: String,
    pub instance_usd_per_hour: BTreeMap<String, f64>,
    pub streaming_instance_usd_per_hour: BTreeMap<String, f64>,
    pub gp3_usd_per_gb_month: f64,
    pub nat_gateway_usd_per_hour: f64,
    pub public_ipv4_usd_per_hour: f64,
    pub alb_usd_per_hour: f64,
    pub nlb_usd_per_hour: f64,
}

/// The pinned table, as the repository has it.
pub const PINNED_PRICES: &str = include_str!("../../../infra/prices.json");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// A price the estimate needs is not in the table: an estimate without it would say zero.
    #[error("no price for {0} in the price table")]
    NoPrice(String),
    #[error("the price table cannot be read: {0}")]
    Table(String),
}

/// What the account's shared infrastructure is made of (the deployment's settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedInfra {
    pub proxies: u32,
    pub proxy_instance_type: String,
    pub fleet_instance_type: String,
}

impl Default for SharedInfra {
    fn default() -> Self {
        Self {
            proxies: 2,
            proxy_instance_type: "t3.small".into(),
            fleet_instance_type: "stream.standard.medium".into(),
        }
    }
}

impl SharedInfra {
    /// The deployment's settings, from the variables the steps read (`SBX_PROXY_INSTANCE_TYPE`,
    /// `SBX_APPSTREAM_INSTANCE_TYPE`), with the same defaults.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let default = Self::default();
        Self {
            proxies: default.proxies,
            proxy_instance_type: var("SBX_PROXY_INSTANCE_TYPE").unwrap_or(default.proxy_instance_type),
            fleet_instance_type: var("SBX_APPSTREAM_INSTANCE_TYPE").unwrap_or(default.fleet_instance_type),
        }
    }
}

/// A price table and the rates of the deployment's shared infrastructure under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub prices: PriceTable,
    pub shared: SharedRates,
}

impl Pricing {
    pub fn new(prices: PriceTable, infra: &SharedInfra) -> Result<Self, PriceError> {
        let shared = prices.shared(infra)?;
        Ok(Self { prices, shared })
    }

    /// The pinned table's pricing.
    pub fn pinned(infra: &SharedInfra) -> Result<Self, PriceError> {
        Self::new(PriceTable::pinned()?, infra)
    }

    /// The pinned prices for the shared infrastructure a deployment's environment names
    /// ([`SharedInfra::from_vars`]): how every function that prices anything loads them.
    pub fn deployed(var: impl Fn(&str) -> Option<String>) -> Result<Self, PriceError> {
        Self::pinned(&SharedInfra::from_vars(var))
    }
}

/// A sandbox's own hourly rates, in micro-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OwnRates {
    /// Its VMs, while they run.
    pub running: Micros,
    /// Their volumes, until it is deleted.
    pub stored: Micros,
}

/// An account's shared infrastructure's hourly rates, in micro-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SharedRates {
    /// NAT gateway and its address, ALB, proxies: while any sandbox is active.
    pub base: Micros,
    /// The NLB: while an active sandbox has `amq`.
    pub nlb: Micros,
    /// The streaming fleet: while an active sandbox has `smart_client`.
    pub fleet: Micros,
}

impl PriceTable {
    /// The pinned table.
    pub fn pinned() -> Result<Self, PriceError> {
        serde_json::from_str(PINNED_PRICES).map_err(|e| PriceError::Table(e.to_string()))
    }

    fn instance(&self, instance_type: &str) -> Result<f64, PriceError> {
        self.instance_usd_per_hour
            .get(instance_type)
            .copied()
            .ok_or_else(|| PriceError::NoPrice(format!("instance type {instance_type}")))
    }

    /// A sandbox's own rates.
    pub fn own(&self, options: &SandboxOptions) -> Result<OwnRates, PriceError> {
        let mut running = 0.0;
        let mut gb = 0;
        for role in ROLES {
            running += self.instance(instance_type(options.instance_size, role))?;
            gb += volume_gb(role);
        }
        Ok(OwnRates {
            running: micros(running),
            stored: micros(f64::from(gb) * self.gp3_usd_per_gb_month / HOURS_PER_MONTH),
        })
    }

    /// An account's shared rates.
    pub fn shared(&self, infra: &SharedInfra) -> Result<SharedRates, PriceError> {
        let proxies = f64::from(infra.proxies) * self.instance(&infra.proxy_instance_type)?;
        let fleet = self
            .streaming_instance_usd_per_hour
            .get(&infra.fleet_instance_type)
            .copied()
            .ok_or_else(|| {
                PriceError::NoPrice(format!("streaming instance type {}", infra.fleet_instance_type))
            })?;
        Ok(SharedRates {
            base: micros(
                self.nat_gateway_usd_per_hour
                    + self.public_ipv4_usd_per_hour
                    + self.alb_usd_per_hour
                    + proxies,
            ),
            nlb: micros(self.nlb_usd_per_hour),
            fleet: micros(fleet),
        })
    }
}

/// Whether a sandbox's VMs run in `state` (from the moment the operation that starts them
/// begins until the one that stops them ends).
pub fn runs(state: State) -> bool {
    matches!(
        state,
        State::Initializing | State::Starting | State::Started | State::Stopping
    )
}

/// An amount in dollars, kept in micro-dollars and written as a JSON number of dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Usd(pub Micros);

impl Serialize for Usd {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(usd(self.0))
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(|dollars| Usd(micros(dollars)))
    }
}

impl std::fmt::Display for Usd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${:.2}", usd(self.0))
    }
}

/// What a sandbox costs, as its record shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// The estimate from `since` (its creation) to `as_of`.
    pub estimated_usd: Usd,
    #[serde(with = "rfc3339_millis")]
    pub since: DateTime<Utc>,
    /// When the estimate was last brought up to date (by the spend sweep, every minute).
    #[serde(with = "rfc3339_millis")]
    pub as_of: DateTime<Utc>,
    /// What it costs per hour now, in its current state and with its current share.
    pub rate_usd_per_hour: Usd,
}

impl Cost {
    pub fn new(total: Micros, since: DateTime<Utc>, as_of: DateTime<Utc>, rate: Micros) -> Self {
        Self {
            estimated_usd: Usd(total),
            since,
            as_of,
            rate_usd_per_hour: Usd(rate),
        }
    }
}

/// A calendar month (UTC), as `2026-12`.
pub fn month_of(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", at.year(), at.month())
}

/// The first moment of the month after the one `at` is in.
pub fn month_end(at: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or(at)
}

/// One sandbox of an account, as the meter sees it over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Metered<'a> {
    pub options: &'a SandboxOptions,
    /// Where its window begins: it is not there (costs nothing, shares nothing) before.
    pub from: DateTime<Utc>,
    /// Its state at `from`.
    pub state: State,
    /// Its changes of state, oldest first; one before `from` counts from `from`.
    pub changes: Vec<(DateTime<Utc>, State)>,
}

/// What one sandbox accrued over a window.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accrued {
    /// Per day (`2026-12-05`, UTC), so that a month's budget counts only its own part and a
    /// day's can be compared with Cost Explorer's.
    pub by_day: BTreeMap<String, Micros>,
    /// Its hourly rate at the window's end.
    pub rate: Micros,
}

impl Accrued {
    pub fn total(&self) -> Micros {
        self.by_day.values().sum()
    }

    /// Per calendar month (`2026-12`): the sums of its days.
    pub fn by_month(&self) -> BTreeMap<String, Micros> {
        let mut months = BTreeMap::new();
        for (day, micros) in &self.by_day {
            *months.entry(day[..7].to_owned()).or_default() += micros;
        }
        months
    }
}

/// A day (UTC), as `2026-12-05`.
pub fn day_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// The first moment of the day after the one `at` is in.
fn day_end(at: DateTime<Utc>) -> DateTime<Utc> {
    at.date_naive()
        .succ_opt()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map_or(at, |t| t.and_utc())
}

/// What each of an account's sandboxes accrued from its `from` to `to`, each piece of time at
/// the rates of the states the sandboxes were in then, the shared infrastructure split among
/// the sandboxes active in that piece.
pub fn accrue(
    prices: &PriceTable,
    shared: &SharedRates,
    sandboxes: &[Metered<'_>],
    to: DateTime<Utc>,
) -> Result<Vec<Accrued>, PriceError> {
    let own = sandboxes
        .iter()
        .map(|s| prices.own(s.options))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cuts: Vec<DateTime<Utc>> = vec![to];
    for sandbox in sandboxes {
        let from = sandbox.from.min(to);
        cuts.push(from);
        cuts.extend(sandbox.changes.iter().map(|(at, _)| (*at).clamp(from, to)));
    }
    cuts.sort();
    cuts.dedup();
    // Days (and so months) begin anew within the window.
    let mut days = Vec::new();
    if let Some(first) = cuts.first() {
        let mut next = day_end(*first);
        while next < to {
            days.push(next);
            next = day_end(next);
        }
    }
    cuts.extend(days);
    cuts.sort();
    cuts.dedup();
    // Micro-dollar-milliseconds per sandbox and day, rounded once at the end.
    let mut exact: Vec<BTreeMap<String, u128>> = vec![BTreeMap::new(); sandboxes.len()];
    for piece in cuts.windows(2) {
        let (start, end) = (piece[0], piece[1]);
        let ms = (end - start).num_milliseconds().max(0) as u128;
        let day = day_of(start);
        for (acc, rate) in exact.iter_mut().zip(rates_at(sandboxes, &own, shared, start)) {
            if let Some(rate) = rate {
                *acc.entry(day.clone()).or_default() += u128::from(rate) * ms;
            }
        }
    }
    Ok(exact
        .into_iter()
        .zip(rates_at(sandboxes, &own, shared, to))
        .map(|(days, rate)| Accrued {
            by_day: days
                .into_iter()
                .map(|(day, amount)| (day, ((amount + 1_800_000) / 3_600_000) as Micros))
                .collect(),
            rate: rate.unwrap_or_default(),
        })
        .collect())
}

/// Each sandbox's state at `at` (`None` before its window).
fn state_at(sandbox: &Metered<'_>, at: DateTime<Utc>) -> Option<State> {
    if at < sandbox.from {
        return None;
    }
    let mut state = sandbox.state;
    for (changed, to) in &sandbox.changes {
        if *changed <= at {
            state = *to;
        }
    }
    Some(state)
}

/// Each sandbox's hourly rate from `at` (`None` for one not there yet).
fn rates_at(
    sandboxes: &[Metered<'_>],
    own: &[OwnRates],
    shared: &SharedRates,
    at: DateTime<Utc>,
) -> Vec<Option<Micros>> {
    let states: Vec<Option<State>> = sandboxes.iter().map(|s| state_at(s, at)).collect();
    let active = |wants: &dyn Fn(&SandboxOptions) -> bool| {
        sandboxes
            .iter()
            .zip(&states)
            .filter(|(s, state)| state.is_some_and(State::is_active) && wants(s.options))
            .count() as Micros
    };
    let (all, amq, fleet) = (active(&|_| true), active(&|o| o.amq), active(&|o| o.smart_client));
    sandboxes
        .iter()
        .zip(&states)
        .zip(own)
        .map(|((sandbox, state), own)| {
            let state = (*state)?;
            let mut rate = 0;
            if state != State::Deleted {
                rate += own.stored;
            }
            if runs(state) {
                rate += own.running;
            }
            if state.is_active() {
                rate += share(shared.base, all);
                if sandbox.options.amq {
                    rate += share(shared.nlb, amq);
                }
                if sandbox.options.smart_client {
                    rate += share(shared.fleet, fleet);
                }
            }
            Some(rate)
        })
        .collect()
}

fn share(rate: Micros, among: Micros) -> Micros {
    (rate + among / 2).checked_div(among).unwrap_or(0)
}

/// A live sandbox, for a forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned<'a> {
    pub options: &'a SandboxOptions,
    /// The state it will be in (a create or start: started).
    pub state: State,
    pub expires_at: DateTime<Utc>,
}

/// What a tenant's live sandboxes will still cost this month from `now`: each at its own
/// rate until its expiry or the month's end, and the account's shared infrastructure while any
/// of them is active. Autostop schedules and idle stops are not foreseen.
pub fn month_forecast(
    prices: &PriceTable,
    shared: &SharedRates,
    sandboxes: &[Planned<'_>],
    now: DateTime<Utc>,
) -> Result<Micros, PriceError> {
    let end = month_end(now);
    let hours_until = |at: DateTime<Utc>| (at.min(end) - now).num_milliseconds().max(0) as u128;
    let mut total: u128 = 0;
    let mut base_until = now;
    let (mut nlb_until, mut fleet_until) = (now, now);
    for sandbox in sandboxes {
        let own = prices.own(sandbox.options)?;
        let mut rate = 0;
        if sandbox.state != State::Deleted {
            rate += own.stored;
        }
        if runs(sandbox.state) {
            rate += own.running;
        }
        total += u128::from(rate) * hours_until(sandbox.expires_at);
        if sandbox.state.is_active() {
            base_until = base_until.max(sandbox.expires_at);
            if sandbox.options.amq {
                nlb_until = nlb_until.max(sandbox.expires_at);
            }
            if sandbox.options.smart_client {
                fleet_until = fleet_until.max(sandbox.expires_at);
            }
        }
    }
    total += u128::from(shared.base) * hours_until(base_until);
    total += u128::from(shared.nlb) * hours_until(nlb_until);
    total += u128::from(shared.fleet) * hours_until(fleet_until);
    Ok(((total + 1_800_000) / 3_600_000) as Micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn prices() -> PriceTable {
        PriceTable::pinned().unwrap_or_else(|e| panic!("{e}"))
    }

    fn shared() -> SharedRates {
        prices()
            .shared(&SharedInfra::default())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The pinned prices, by hand: m5.xlarge 0.192 + m5.large 0.096 while running; 150 GiB of
    /// gp3 at 0.08 a month; NAT 0.045 + its address 0.005 + ALB 0.0225 + two t3.small 0.0208.
    const RUNNING: Micros = 288_000;
    const STORED: Micros = 16_438;
    const BASE: Micros = 114_100;

    #[test]
    fn the_pinned_table_gives_the_rates_worked_out_by_hand() {
        let own = prices()
            .own(&SandboxOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            own,
            OwnRates {
                running: RUNNING,
                stored: STORED
            }
        );
        assert_eq!(shared().base, BASE);
        assert_eq!(shared().nlb, 22_500);
        assert_eq!(shared().fleet, 100_000);
    }

    #[test]
    fn started_stopped_and_restarted_pays_for_the_hours_it_ran() {
        let options = SandboxOptions::default();
        let created = at("2026-12-01T00:00:00Z");
        let sandbox = Metered {
            options: &options,
            from: created,
            state: State::Initializing,
            changes: vec![
                (at("2026-12-01T00:10:00Z"), State::Started),
                (at("2026-12-01T02:00:00Z"), State::Stopping),
                (at("2026-12-01T02:05:00Z"), State::Stopped),
                (at("2026-12-01T05:00:00Z"), State::Starting),
                (at("2026-12-01T05:05:00Z"), State::Started),
            ],
        };
        let to = at("2026-12-01T06:00:00Z");
        let accrued = accrue(&prices(), &shared(), &[sandbox], to).unwrap_or_else(|e| panic!("{e}"));
        // Ran 0:00–2:05 and 5:00–6:00 (3h05m); active (shared) 0:00–2:00 and 5:00–6:00 (3h);
        // volumes all 6 h.
        let expected = RUNNING * 185 / 60 + BASE * 3 + STORED * 6;
        assert_eq!(accrued[0].total(), expected);
        assert_eq!(accrued[0].rate, RUNNING + STORED + BASE);
        assert_eq!(accrued[0].by_month().keys().collect::<Vec<_>>(), ["2026-12"]);
        assert_eq!(accrued[0].by_day.keys().collect::<Vec<_>>(), ["2026-12-01"]);
    }

    #[test]
    fn two_sandboxes_share_the_nat_while_both_are_active() {
        let options = SandboxOptions::default();
        let t0 = at("2026-12-01T00:00:00Z");
        let a = Metered {
            options: &options,
            from: t0,
            state: State::Started,
            changes: vec![],
        };
        // b arrives an hour later and stops after two more.
        let b = Metered {
            options: &options,
            from: at("2026-12-01T01:00:00Z"),
            state: State::Started,
            changes: vec![(at("2026-12-01T03:00:00Z"), State::Stopped)],
        };
        let to = at("2026-12-01T04:00:00Z");
        let accrued = accrue(&prices(), &shared(), &[a, b], to).unwrap_or_else(|e| panic!("{e}"));
        let a_total = (RUNNING + STORED) * 4 + BASE + BASE / 2 * 2 + BASE;
        let b_total = (RUNNING + STORED) * 2 + BASE / 2 * 2 + STORED;
        assert_eq!(accrued[0].total(), a_total);
        assert_eq!(accrued[1].total(), b_total);
        // Together they paid for the NAT exactly once for each of the four hours.
        assert_eq!(
            accrued[0].total() + accrued[1].total(),
            RUNNING * 6 + STORED * 7 + BASE * 4
        );
        assert_eq!(accrued[1].rate, STORED, "stopped: its volumes only");
    }

    #[test]
    fn a_change_before_the_window_counts_from_its_start_and_months_are_split() {
        let options = SandboxOptions {
            amq: true,
            ..SandboxOptions::default()
        };
        let sandbox = Metered {
            options: &options,
            from: at("2026-12-31T23:00:00Z"),
            state: State::Started,
            // Recorded before the meter's clock (a clock moved ahead locally): applied at once.
            changes: vec![(at("2026-12-31T22:00:00Z"), State::Stopped)],
        };
        let accrued = accrue(&prices(), &shared(), &[sandbox], at("2027-01-01T01:00:00Z"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(accrued[0].by_month().get("2026-12"), Some(&STORED));
        assert_eq!(accrued[0].by_month().get("2027-01"), Some(&STORED));
        assert_eq!(accrued[0].by_day.get("2027-01-01"), Some(&STORED));
    }

    #[test]
    fn an_instance_type_with_no_price_is_an_error_not_zero() {
        let mut table = prices();
        table.instance_usd_per_hour.remove("m5.large");
        let options = SandboxOptions::default();
        let sandbox = Metered {
            options: &options,
            from: at("2026-12-01T00:00:00Z"),
            state: State::Started,
            changes: vec![],
        };
        let out = accrue(&table, &shared(), &[sandbox], at("2026-12-01T01:00:00Z"));
        assert_eq!(out, Err(PriceError::NoPrice("instance type m5.large".into())));
        let shared = table.shared(&SharedInfra {
            fleet_instance_type: "stream.unknown".into(),
            ..SharedInfra::default()
        });
        assert!(matches!(shared, Err(PriceError::NoPrice(_))), "{shared:?}");
    }

    #[test]
    fn a_forecast_runs_each_sandbox_to_its_expiry_or_the_month_end() {
        let options = SandboxOptions::default();
        let now = at("2026-12-31T20:00:00Z");
        let planned = [
            Planned {
                options: &options,
                state: State::Started,
                expires_at: at("2026-12-31T22:00:00Z"),
            },
            Planned {
                options: &options,
                state: State::Stopped,
                expires_at: at("2027-01-05T00:00:00Z"),
            },
        ];
        let forecast = month_forecast(&prices(), &shared(), &planned, now).unwrap_or_else(|e| panic!("{e}"));
        // Two hours running with the NAT; the stopped one's volumes until midnight.
        assert_eq!(forecast, (RUNNING + STORED + BASE) * 2 + STORED * 4);
    }

    #[test]
    fn months_and_money_are_written_plainly() {
        assert_eq!(month_of(at("2026-12-05T10:00:00Z")), "2026-12");
        assert_eq!(month_end(at("2026-12-05T10:00:00Z")), at("2027-01-01T00:00:00Z"));
        assert_eq!(micros(12.345678), 12_345_678);
        assert_eq!(micros(-1.0), 0);
        assert_eq!(micros(f64::NAN), 0);
        assert!((usd(1_500_000) - 1.5).abs() < 1e-9);
    }
}
