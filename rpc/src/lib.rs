//! Request/reply messaging between Mercato's processes: the API calls,
//! `quote-worker` and `offer-poller` answer.
//!
//! Two layers. [`broker`] moves bytes, over RabbitMQ or inside one process,
//! and its only errors are the transport's (a timeout, the broker
//! unavailable). [`typed`] puts requests and replies on top: a request type
//! names its queue and its reply, and a worker's coded failure comes back
//! as [`CallError::Failed`], whose code the API answers with.
//!
//! # Layout
//!
//! - [`broker`]: the [`Broker`](broker::Broker) trait and its RabbitMQ,
//!   in-process and metered implementations.
//! - [`typed`]: typed `call` and `serve`, with the application errors.
//! - [`messages`]: the request enum of each queue.

pub mod broker;
pub mod messages;
pub mod typed;

pub use typed::{CallError, RpcFailure, RpcRequest, call, handler, serve};
