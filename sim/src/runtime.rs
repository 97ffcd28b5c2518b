//! Runtime commands: what an operator types on the stats socket, drawn
//! from the seed at random times, and carried out through
//! `Balancer::handle_command`, the public entry the socket uses.
//!
//! A command that takes a server out of rotation (drain, maintenance,
//! weight 0, forced health) is drawn with the one that puts it back, a
//! little later, so every run ends with its servers ready; `shutdown
//! sessions server` stands alone. The checks of what commands must do are
//! in `invariants.rs`.

use std::fmt;
use std::time::Duration;

use weir_core::runtime_api::Level;

use crate::rng::Rng;
use crate::trace::trace;
use crate::world::World;

/// HAProxy's answer when a static algorithm refuses a weight.
const STATIC_WEIGHT: &str =
    "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n";

/// What a runtime command does to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `set server B/S state drain`.
    Drain,
    /// `set server B/S state maint`.
    Maint,
    /// `set server B/S state ready`.
    Ready,
    /// `disable server B/S` (maintenance).
    Disable,
    /// `enable server B/S` (ready).
    Enable,
    /// `set server B/S weight N`.
    Weight(u32),
    /// `set server B/S weight 100%`: the configured weight again.
    WeightRestore,
    /// `set server B/S health up|stopping|down`.
    Health(Health),
    /// `shutdown sessions server B/S`.
    ShutdownSessions,
}

/// A forced health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// `up`.
    Up,
    /// `stopping` (NOLB).
    Stopping,
    /// `down`.
    Down,
}

/// A runtime command on one server at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// The server's index.
    pub server: usize,
    /// What it does.
    pub op: Op,
    /// When the operator types it.
    pub at: Duration,
    /// When the command that undoes it comes (`at` for the others).
    pub until: Duration,
}

impl Command {
    /// The line as typed on the stats socket, for server `name` of `app`.
    pub fn line(&self, name: &str) -> String {
        let path = format!("app/{name}");
        match self.op {
            Op::Drain => format!("set server {path} state drain"),
            Op::Maint => format!("set server {path} state maint"),
            Op::Ready => format!("set server {path} state ready"),
            Op::Disable => format!("disable server {path}"),
            Op::Enable => format!("enable server {path}"),
            Op::Weight(w) => format!("set server {path} weight {w}"),
            Op::WeightRestore => format!("set server {path} weight 100%"),
            Op::Health(h) => format!("set server {path} health {h}"),
            Op::ShutdownSessions => format!("shutdown sessions server {path}"),
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Up => "up",
            Health::Stopping => "stopping",
            Health::Down => "down",
        })
    }
}

/// Draws up to six commands (or their pairs) over the first `active` of
/// the run: each one that takes a server out comes with the one that
/// puts it back, 0.1 to 6 s later.
pub fn schedule(rng: &mut Rng, servers: usize, active: Duration) -> Vec<Command> {
    let mut commands = Vec::new();
    for _ in 0..rng.range(1, 6) {
        let server = rng.range(0, servers as u64 - 1) as usize;
        let at = rng.millis(0, active.as_millis() as u64);
        let back = at + rng.millis(100, 6000);
        let (op, undo) = match rng.range(0, 9) {
            0 | 1 => (Op::Drain, Some(Op::Ready)),
            2 => (Op::Maint, Some(*rng.pick(&[Op::Ready, Op::Enable]))),
            3 => (Op::Disable, Some(*rng.pick(&[Op::Ready, Op::Enable]))),
            4 | 5 => {
                let weight = *rng.pick(&[0, 1, 2, 5, 10]);
                (Op::Weight(weight), Some(Op::WeightRestore))
            }
            6 => (Op::Health(Health::Down), Some(Op::Health(Health::Up))),
            7 => (Op::Health(Health::Stopping), Some(Op::Health(Health::Up))),
            _ => (Op::ShutdownSessions, None),
        };
        let until = if undo.is_some() { back } else { at };
        commands.push(Command {
            server,
            op,
            at,
            until,
        });
        if let Some(op) = undo {
            commands.push(Command {
                server,
                op,
                at: back,
                until: back,
            });
        }
    }
    commands.sort_by_key(|c| c.at);
    commands
}

impl World {
    /// Command `i` is typed: it runs through the runtime API at the admin
    /// level, its answer is checked, and the checks learn what it changed.
    pub(crate) fn run_command(&mut self, i: usize) {
        let command = self.scenario.commands[i];
        let s = command.server;
        let line = command.line(&self.server_name(s));
        trace!(self, "operator", "{line}");
        if !self.listed(s) {
            // A reload left it out: there is no such server.
            let t = self.t();
            let answer = self.loops[0].lb.handle_command(t, &line, Level::Admin);
            if answer != "No such server.\n\n" {
                self.fail(format!(
                    "'{line}' on a server out of the configuration answered {answer:?}"
                ));
            }
            return;
        }
        let carried = self.carried(0, s);
        // The stats socket is loop 0's.
        let t = self.t();
        let answer = self.loops[0].lb.handle_command(t, &line, Level::Admin);
        // The socket ends every answer with an empty line.
        let answer = answer.strip_suffix('\n').unwrap_or(&answer).to_owned();
        if !answer.is_empty() {
            trace!(self, "operator", "answer: {}", answer.trim_end());
        }
        // It took effect before weir's actions that follow from it.
        self.on_command(command, &answer);
        self.check.in_command = Some(s);
        self.drain(0);
        self.check.in_command = None;
        self.check_counters_now();
        if command.op == Op::ShutdownSessions {
            self.after_shutdown_sessions(0, s, &carried);
        }
    }

    /// Whether `answer` is what a command must answer: nothing, or the
    /// refusal of a weight by a static algorithm.
    pub(crate) fn command_answer_ok(&self, op: Op, answer: &str) -> bool {
        match op {
            Op::Weight(_) | Op::WeightRestore if answer == STATIC_WEIGHT => !self.dynamic_weights(),
            _ => answer.is_empty(),
        }
    }

    /// Whether the backend's algorithm takes weights at run time.
    fn dynamic_weights(&self) -> bool {
        let config = &self.config;
        !(config.contains("balance static-rr")
            || (config.contains("balance source") && !config.contains("hash-type consistent")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_out_of_rotation_comes_with_its_way_back() {
        for seed in 0..300 {
            let commands = schedule(&mut Rng::new(seed), 3, Duration::from_secs(5));
            let outs = commands
                .iter()
                .filter(|c| !matches!(c.op, Op::ShutdownSessions))
                .count();
            assert_eq!(outs % 2, 0, "seed {seed}: {commands:?}");
            assert!(commands.windows(2).all(|w| w[0].at <= w[1].at));
        }
    }

    #[test]
    fn lines_are_haproxy_commands() {
        let c = |op| Command {
            server: 0,
            op,
            at: Duration::ZERO,
            until: Duration::ZERO,
        };
        assert_eq!(c(Op::Drain).line("gw1"), "set server app/gw1 state drain");
        assert_eq!(c(Op::Enable).line("gw1"), "enable server app/gw1");
        assert_eq!(
            c(Op::Health(Health::Stopping)).line("gw2"),
            "set server app/gw2 health stopping"
        );
        assert_eq!(
            c(Op::WeightRestore).line("gw1"),
            "set server app/gw1 weight 100%"
        );
        assert_eq!(
            c(Op::ShutdownSessions).line("gw3"),
            "shutdown sessions server app/gw3"
        );
    }
}
