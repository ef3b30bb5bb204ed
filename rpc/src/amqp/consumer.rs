//! Consumers: a connection of their own per queue, `basic_qos` set to the
//! prefetch count, each request run in its own task, the reply published
//! (with a confirm) before the ack. A request that does not decode is
//! copied to `<queue>.dead` and acked.

use std::sync::Arc;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{AmqpBroker, RECONNECT_MAX, RECONNECT_MIN, connect, declare, trace_of};
use crate::broker::{Handled, RpcHandler, dead_letter_queue};
use platform::backoff::Backoff;

impl AmqpBroker {
    pub(super) async fn serve_until_stopped(
        &self,
        queue: &str,
        handler: Arc<dyn RpcHandler>,
        prefetch: u16,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut backoff = Backoff::new(RECONNECT_MIN, RECONNECT_MAX);
        loop {
            match self
                .consume(queue, &handler, prefetch, &shutdown, &mut backoff)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) => tracing::warn!(queue, error = %e, "consumer lost RabbitMQ; reconnecting"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }

    /// One consumer session: returns `Ok` on shutdown, `Err` when the
    /// connection fails (the caller reconnects).
    async fn consume(
        &self,
        queue: &str,
        handler: &Arc<dyn RpcHandler>,
        prefetch: u16,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> anyhow::Result<()> {
        let connection = connect(&self.url, &self.name, &format!("consumer {queue}")).await?;
        let channel = connection.create_channel().await?;
        declare(&channel, queue).await?;
        channel
            .basic_qos(prefetch.max(1), BasicQosOptions::default())
            .await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let tag = format!("{queue}.{}", uuid::Uuid::new_v4());
        let mut deliveries = channel
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        backoff.reset();
        tracing::info!(queue, prefetch, "consuming");

        let mut in_flight = JoinSet::new();
        let outcome = loop {
            tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                Some(done) = in_flight.join_next() => {
                    if let Err(e) = done {
                        tracing::error!(queue, error = %e, "an RPC handler panicked");
                    }
                }
                delivery = deliveries.next() => match delivery {
                    Some(Ok(delivery)) => {
                        in_flight.spawn(process(channel.clone(), queue.to_owned(), handler.clone(), delivery));
                    }
                    Some(Err(e)) => break Err(anyhow::Error::new(e).context("consuming")),
                    None => break Err(anyhow::anyhow!("the consumer was cancelled by RabbitMQ")),
                }
            }
        };
        if outcome.is_ok() {
            // Take nothing new, but finish and ack what is in hand.
            let _ = channel
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await;
        }
        while let Some(done) = in_flight.join_next().await {
            if let Err(e) = done {
                tracing::error!(queue, error = %e, "an RPC handler panicked");
            }
        }
        let _ = connection.close(200, "bye".into()).await;
        outcome
    }
}

/// Handles one request: reply (and dead-letter it if it did not decode), then ack.
async fn process(
    channel: Channel,
    queue: String,
    handler: Arc<dyn RpcHandler>,
    delivery: lapin::message::Delivery,
) {
    let trace = trace_of(&delivery.properties);
    let span = trace.span(&queue);
    let handled = trace.scope(handler.handle(&delivery.data).instrument(span));
    let reply = match handled.await {
        Handled::Reply(reply) => reply,
        Handled::Rejected { reply, reason } => {
            tracing::warn!(queue, reason, "dead-lettering an undecodable request");
            let mut headers = FieldTable::default();
            headers.insert(
                "x-mercato-reason".into(),
                AMQPValue::LongString(reason.into()),
            );
            let properties = BasicProperties::default().with_headers(headers);
            if let Err(e) = publish(
                &channel,
                &dead_letter_queue(&queue),
                &delivery.data,
                properties,
            )
            .await
            {
                tracing::error!(queue, error = %e, "cannot dead-letter; leaving the request unacked");
                return;
            }
            reply
        }
    };
    match delivery.properties.reply_to() {
        Some(reply_to) => {
            let mut properties =
                BasicProperties::default().with_content_type("application/json".into());
            if let Some(id) = delivery.properties.correlation_id() {
                properties = properties.with_correlation_id(id.clone());
            }
            if let Err(e) = publish(&channel, reply_to.as_str(), &reply, properties).await {
                tracing::warn!(queue, error = %e, "cannot send a reply");
            }
        }
        None => tracing::warn!(queue, "request without reply_to: nobody to answer"),
    }
    if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
        tracing::warn!(queue, error = %e, "cannot ack; the request will be redelivered");
    }
}

async fn publish(
    channel: &Channel,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> anyhow::Result<()> {
    let confirmation = channel
        .basic_publish(
            "".into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await?
        .await?;
    anyhow::ensure!(confirmation.is_ack(), "RabbitMQ refused the message");
    Ok(())
}
