//! Email through the `waymark` binary against the real mail lab: the mail and triggers
//! commands, and `kill -9` of `waymark serve` around `send_email`.

#[path = "../../../../tests/mail/lab.rs"]
mod lab;
use crate::support;

#[path = "email/kill_9.rs"]
mod kill_9;
#[path = "email/mail_cli.rs"]
mod mail_cli;
