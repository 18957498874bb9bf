//! One delivery attempt: a POST of the JSON body with the Standard Webhooks headers, to the
//! addresses the URL was checked at ([`crate::address::resolve`]), with no redirect followed
//! (a redirect could lead to a forbidden address) and a deadline.

use crate::address::Target;
use crate::signature::{HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP};
use std::time::{Duration, Instant};

/// How long an attempt may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// How much of the receiver's answer is kept in the delivery log.
pub const KEPT_ANSWER: usize = 512;

/// What is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt<'a> {
    pub id: &'a str,
    pub timestamp: i64,
    /// The value of `webhook-signature`.
    pub signature: &'a str,
    pub body: &'a str,
}

/// What came back: an HTTP status and the start of the body, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Option<u16>,
    /// The first [`KEPT_ANSWER`] bytes of the answer's body, or the connection's error.
    pub text: String,
    pub elapsed: Duration,
}

impl Answer {
    /// A 2xx answer is a delivery; anything else is tried again.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Sends `attempt` to `target`.
pub async fn post(target: &Target, attempt: &Attempt<'_>) -> Answer {
    let started = Instant::now();
    let answer = |status, text: String| Answer {
        status,
        text: truncate(text),
        elapsed: started.elapsed(),
    };
    // rustls on aws-lc-rs with the system's roots; installing twice is no error.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT / 3)
        .resolve_to_addrs(&target.host, &target.addresses)
        .no_proxy()
        .user_agent("sbx-webhooks/1")
        .build()
    {
        Ok(client) => client,
        Err(err) => return answer(None, format!("no HTTP client: {err}")),
    };
    let sent = client
        .post(target.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(HEADER_WEBHOOK_ID, attempt.id)
        .header(HEADER_WEBHOOK_TIMESTAMP, attempt.timestamp.to_string())
        .header(HEADER_WEBHOOK_SIGNATURE, attempt.signature)
        .body(attempt.body.to_owned())
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = kept_answer(response).await;
            answer(Some(status), text)
        }
        Err(err) if err.is_timeout() => answer(None, format!("no answer within {}s", TIMEOUT.as_secs())),
        Err(err) => answer(None, format!("cannot connect: {}", without_url(&err))),
    }
}

/// The first [`KEPT_ANSWER`] bytes of the body, read no further: a receiver that streams an
/// endless answer holds the attempt only until those bytes have come (or the deadline).
async fn kept_answer(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < KEPT_ANSWER {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    // Cut in bytes first, then at a character boundary after the lossy decoding.
    kept.truncate(KEPT_ANSWER);
    String::from_utf8_lossy(&kept).into_owned()
}

/// The error without the URL reqwest adds (the URL is in the log already).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text = inner.to_string();
        source = inner.source();
    }
    text
}

fn truncate(mut text: String) -> String {
    if text.len() > KEPT_ANSWER {
        let mut end = KEPT_ANSWER;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{Policy, resolve};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A receiver that answers one request with `reply` and hands back what it read.
    async fn receiver(reply: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let url = format!(
            "http://{}/hook",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let task = tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return String::new();
            };
            let mut seen = Vec::new();
            let mut buffer = [0u8; 4096];
            while let Ok(n) = socket.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&seen);
                if text.contains("\r\n\r\n") && text.ends_with('}') {
                    break;
                }
            }
            let _ = socket.write_all(reply.as_bytes()).await;
            String::from_utf8_lossy(&seen).into_owned()
        });
        (url, task)
    }

    /// A plain attempt, for the tests about the answer.
    const ATTEMPT: Attempt<'static> = Attempt {
        id: "evt_1",
        timestamp: 1,
        signature: "v1,x",
        body: "{}",
    };

    /// `url` on this machine, checked as the local stack checks it.
    async fn local(url: &str) -> Target {
        resolve(url, Policy { allow_loopback: true })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn an_attempt_posts_the_signed_body_and_reads_the_answer() {
        let (url, task) = receiver("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
        let answer = post(
            &local(&url).await,
            &Attempt {
                id: "evt_1",
                timestamp: 1_700_000_000,
                signature: "v1,abc",
                body: r#"{"type":"sandbox.started"}"#,
            },
        )
        .await;
        assert_eq!(answer.status, Some(204));
        assert!(answer.succeeded());
        let request = task.await.unwrap_or_default().to_ascii_lowercase();
        assert!(request.starts_with("post /hook"), "{request}");
        assert!(request.contains("webhook-id: evt_1"));
        assert!(request.contains("webhook-timestamp: 1700000000"));
        assert!(request.contains("webhook-signature: v1,abc"));
        assert!(request.ends_with(r#"{"type":"sandbox.started"}"#));
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_and_a_5xx_is_a_failure() {
        let (url, _task) =
            receiver("HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n")
                .await;
        let answer = post(&local(&url).await, &ATTEMPT).await;
        assert_eq!(answer.status, Some(302));
        assert!(!answer.succeeded());
        let (url, _task) =
            receiver("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops").await;
        let answer = post(&local(&url).await, &ATTEMPT).await;
        assert_eq!((answer.status, answer.text.as_str()), (Some(500), "oops"));
    }

    #[tokio::test]
    async fn an_endless_answer_is_read_only_as_far_as_it_is_kept() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let url = format!(
            "http://{}/hook",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        // A receiver that answers 200 and then streams a chunked body without end.
        let (stopped, mut stop) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return 0usize;
            };
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return 0;
            }
            let mut sent = 0;
            loop {
                let chunk = format!("100\r\n{}\r\n", "x".repeat(0x100));
                tokio::select! {
                    _ = &mut stop => return sent,
                    written = socket.write_all(chunk.as_bytes()) => {
                        if written.is_err() {
                            return sent;
                        }
                        sent += 0x100;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let answer = post(&local(&url).await, &ATTEMPT).await;
        let _ = stopped.send(());
        let sent = server.await.unwrap_or_default();
        assert_eq!(answer.status, Some(200));
        assert_eq!(answer.text, "x".repeat(KEPT_ANSWER));
        // It came back after the kept bytes, not at the deadline: the receiver was still
        // streaming when the attempt ended.
        assert!(answer.elapsed < TIMEOUT, "{:?}", answer.elapsed);
        assert!(sent >= KEPT_ANSWER, "{sent}");
    }

    #[test]
    fn long_answers_are_cut_on_a_character_boundary() {
        let cut = truncate("é".repeat(KEPT_ANSWER));
        assert!(cut.len() <= KEPT_ANSWER);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
