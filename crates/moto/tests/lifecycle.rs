//! The harness starts a working server on a free port and leaves nothing behind.

use sbx_moto::MotoServer;
use std::net::TcpStream;

#[tokio::test]
async fn serves_aws_apis_and_stops_with_its_owner() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    let other = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(moto.port(), other.port(), "each server gets a port of its own");

    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let tables = client
        .list_tables()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(tables.table_names().is_empty());

    let port = moto.port();
    moto.stop();
    drop(other);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on {port} once the server is stopped"
    );
}
