//! Scheduled file import and file export (issue 15 part 2): the built-in
//! `files` and `transform` connectors through `weft component call`, and
//! the `file-import` / `file-export` examples through the real server,
//! against a real S3-compatible server ([`moto`]) and fake app APIs on
//! loopback.

mod connectors;
mod examples;
mod moto;
