//! The whole flow through `mosaic-bot console --json`: a real bot process,
//! a simulated backend, JSON lines in and out.

mod access;
mod catch_up;
mod commands;
mod harness;
mod relaying;
