//! HTTP and connections: the player listeners (the edge's own HTTP/1.x, Pingora's HTTP/2,
//! TLS), what a request is and how an answer is written, connection bounds, sending cached
//! segments without a copy, and the small HTTP client peers and services are asked with.
//! Nothing here makes media bytes: [`service`] parses the route and the query and hands them
//! to [`crate::media`], then applies HTTP's semantics (conditionals, ranges, gzip) to the
//! object it gets back.

pub mod cmcd;
pub mod connections;
pub mod h1;
pub mod head;
pub mod http;
pub mod http_client;
pub mod request;
pub mod service;
pub mod tls;
pub mod zero_copy;
