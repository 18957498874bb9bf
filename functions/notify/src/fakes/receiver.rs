//! [`FakeReceiver`]: the network and the receiver behind it. Resolving refuses what the policy
//! refuses, as the real resolver does: a literal address is itself, a name ending in
//! `.internal` resolves to a private address (10.0.0.7), any other name to a public one; each
//! post gets the next scripted status (a 200 once the
//! script is used up, `None` for no answer at all) and is remembered with its headers' values.

use super::locked;
use crate::deliver::Sender;
use sbx_webhooks::{Answer, Attempt, Policy, Refusal, Target};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

/// One post as the receiver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub url: String,
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
}

#[derive(Debug, Default)]
pub struct FakeReceiver {
    pub answers: Mutex<VecDeque<Option<u16>>>,
    pub received: Mutex<Vec<Received>>,
}

impl FakeReceiver {
    /// A receiver that answers `statuses` in turn (`None`: the connection fails), then 200.
    pub fn answering(statuses: impl IntoIterator<Item = Option<u16>>) -> Self {
        Self {
            answers: Mutex::new(statuses.into_iter().collect()),
            received: Mutex::default(),
        }
    }

    pub fn received(&self) -> Vec<Received> {
        locked(&self.received).clone()
    }
}

impl Sender for FakeReceiver {
    async fn resolve(&self, url: &str, policy: Policy) -> Result<Target, Refusal> {
        let parsed = sbx_webhooks::address::parse(url, policy)?;
        let host = parsed
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let address = match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) if host.ends_with(".internal") => IpAddr::from([10, 0, 0, 7]),
            Err(_) => IpAddr::from([93, 184, 215, 14]),
        };
        if let Some(kind) = sbx_webhooks::address::forbidden(address, policy) {
            return Err(Refusal::Forbidden { host, address, kind });
        }
        Ok(Target {
            addresses: vec![SocketAddr::new(
                address,
                parsed.port_or_known_default().unwrap_or(443),
            )],
            url: parsed,
            host,
        })
    }

    async fn post(&self, target: &Target, attempt: &Attempt<'_>) -> Answer {
        locked(&self.received).push(Received {
            url: target.url.to_string(),
            id: attempt.id.to_owned(),
            timestamp: attempt.timestamp,
            signature: attempt.signature.to_owned(),
            body: attempt.body.to_owned(),
        });
        let status = locked(&self.answers).pop_front().unwrap_or(Some(200));
        Answer {
            status,
            text: match status {
                Some(status) => format!("answered {status}"),
                None => "connection refused".to_owned(),
            },
            elapsed: Duration::from_millis(3),
        }
    }
}
