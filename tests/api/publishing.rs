//! `Publisher::publish_many` against a real RabbitMQ.

use crate::helpers::*;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use uuid::Uuid;

/// Commands published together reach the queue in the order given, across
/// more than one window of confirms.
#[tokio::test]
async fn publish_many_keeps_the_order_given() {
    let app = spawn_app_without_worker().await;
    let bodies: Vec<Vec<u8>> = (0..2_500)
        .map(|i| format!("{{\"sequence\": {i}}}").into_bytes())
        .collect();
    app.publisher
        .publish_many(&bodies)
        .await
        .expect("publish_many");

    let channel = app.amqp.create_channel().await.expect("channel");
    let queue = app.config.amqp.queue.clone();
    let mut received = Vec::with_capacity(bodies.len());
    while received.len() < bodies.len() {
        let message = channel
            .basic_get(queue.as_str().into(), BasicGetOptions::default())
            .await
            .expect("basic_get")
            .unwrap_or_else(|| panic!("the queue ran dry after {} commands", received.len()));
        message.ack(BasicAckOptions::default()).await.expect("ack");
        received.push(message.data.clone());
    }
    let first_out_of_order = received
        .iter()
        .zip(&bodies)
        .position(|(got, sent)| got != sent);
    assert_eq!(first_out_of_order, None, "commands arrived out of order");
    assert_eq!(queue_depth(&app).await, 0);
}

#[tokio::test]
async fn a_worker_behind_the_test_proxies_delivers() {
    let app = spawn_app_with(Options {
        proxied: true,
        ..Options::default()
    })
    .await;
    assert!(app.db_proxy.is_some() && app.amqp_proxy.is_some());
    assert_ne!(app.config.database.url, crate::helpers::admin_url());
    let id = Uuid::new_v4();
    app.publish(&send(id, "628111020197")).await;
    app.wait_for_status(id, "success").await;
}
